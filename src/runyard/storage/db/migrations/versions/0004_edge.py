"""one-shot upload claims, bundle checksums, the audit log, retention policies

Revision ID: 0004
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('uploads') as batch:
        batch.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('bundles') as batch:
        batch.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))
    with op.batch_alter_table('applications') as batch:
        batch.add_column(sa.Column('retention', sa.JSON(), nullable=True))
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('key_name', sa.String(length=256), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('route', sa.String(length=256), nullable=False),
        sa.Column('path', sa.String(length=1024), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_audit_events_account_id'), 'audit_events', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_events_account_id'), table_name='audit_events')
    op.drop_table('audit_events')
    with op.batch_alter_table('applications') as batch:
        batch.drop_column('retention')
    with op.batch_alter_table('bundles') as batch:
        batch.drop_column('sha256')
        batch.drop_column('claimed_at')
    with op.batch_alter_table('uploads') as batch:
        batch.drop_column('claimed_at')
