"""run owners and leases

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('owner', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_runs_owner'), 'runs', ['owner'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_runs_owner'), table_name='runs')
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('lease_expires_at')
        batch.drop_column('owner')
