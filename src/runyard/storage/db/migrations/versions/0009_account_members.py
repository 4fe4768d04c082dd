"""organization members, keys issued to a member, the marketplace (an internal catalog)

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa

from runyard.storage.db.tables import UTCDateTime


revision = '0009'
down_revision = '0008'
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
    op.create_table(
        'marketplace_apps',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('partner_id', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=128), nullable=False),
        sa.Column('ref_app_pk', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=256), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('categories', sa.JSON(), nullable=False),
        sa.Column('features', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['partner_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ref_app_pk'], ['applications.pk'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk'),
        sa.UniqueConstraint('partner_id', 'id'),
    )
    op.create_index(op.f('ix_marketplace_apps_partner_id'), 'marketplace_apps', ['partner_id'], unique=False)
    op.create_index(op.f('ix_marketplace_apps_ref_app_pk'), 'marketplace_apps', ['ref_app_pk'], unique=False)
    op.create_table(
        'marketplace_versions',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('mapp_pk', sa.Integer(), nullable=False),
        sa.Column('id', sa.String(length=128), nullable=False),
        sa.Column('ref_version_id', sa.String(length=128), nullable=False),
        sa.Column('bundle_id', sa.String(length=64), nullable=False),
        sa.Column('change_log', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['mapp_pk'], ['marketplace_apps.pk'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk'),
        sa.UniqueConstraint('mapp_pk', 'id'),
    )
    op.create_index(op.f('ix_marketplace_versions_mapp_pk'), 'marketplace_versions', ['mapp_pk'], unique=False)
    op.create_table(
        'marketplace_subscriptions',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('subscription_id', sa.String(length=256), nullable=False),
        sa.Column('mapp_pk', sa.Integer(), nullable=False),
        sa.Column('app_pk', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['mapp_pk'], ['marketplace_apps.pk'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['app_pk'], ['applications.pk'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk'),
        sa.UniqueConstraint('account_id', 'subscription_id'),
    )
    op.create_index(op.f('ix_marketplace_subscriptions_account_id'), 'marketplace_subscriptions', ['account_id'], unique=False)
    op.create_index(op.f('ix_marketplace_subscriptions_mapp_pk'), 'marketplace_subscriptions', ['mapp_pk'], unique=False)
    op.create_index(op.f('ix_marketplace_subscriptions_app_pk'), 'marketplace_subscriptions', ['app_pk'], unique=False)


def downgrade() -> None:
    op.drop_table('marketplace_subscriptions')
    op.drop_table('marketplace_versions')
    op.drop_table('marketplace_apps')
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('member_email')
    op.drop_table('account_members')
