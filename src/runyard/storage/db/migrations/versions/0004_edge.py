"""one-shot upload claims, bundle checksums

Revision ID: 0004
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('uploads') as batch:
        batch.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('bundles') as batch:
        batch.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bundles') as batch:
        batch.drop_column('sha256')
        batch.drop_column('claimed_at')
    with op.batch_alter_table('uploads') as batch:
        batch.drop_column('claimed_at')
