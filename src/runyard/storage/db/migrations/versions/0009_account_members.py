"""organization members, keys issued to a member

Revision ID: 0009
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa

from runyard.storage.db.tables import UTCDateTime


revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'account_members',
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=256), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('pending_invite', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('account_id', 'email'),
    )
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('member_email', sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('member_email')
    op.drop_table('account_members')
