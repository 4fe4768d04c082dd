"""indexes for the runs list's filters

Revision ID: 0008
Revises: 0007
"""

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_runs_app_status', 'runs', ['app_pk', 'status', 'created_at', 'id'], unique=False)
    op.create_index('ix_runs_app_instance', 'runs', ['app_pk', 'instance_id', 'status', 'created_at', 'id'], unique=False)
    op.create_index('ix_runs_app_version', 'runs', ['app_pk', 'version_id', 'status', 'created_at', 'id'], unique=False)
    op.create_index('ix_runs_account_status', 'runs', ['account_id', 'status', 'created_at', 'id'], unique=False)
    op.create_index('ix_runs_experiment_created', 'runs', ['experiment_id', 'created_at', 'id'], unique=False)
    # (account_id) and (experiment_id) alone are the first columns of the new indexes
    op.drop_index('ix_runs_account_id', table_name='runs')
    op.drop_index('ix_runs_experiment_id', table_name='runs')


def downgrade() -> None:
    op.create_index('ix_runs_experiment_id', 'runs', ['experiment_id'], unique=False)
    op.create_index('ix_runs_account_id', 'runs', ['account_id'], unique=False)
    op.drop_index('ix_runs_experiment_created', table_name='runs')
    op.drop_index('ix_runs_account_status', table_name='runs')
    op.drop_index('ix_runs_app_version', table_name='runs')
    op.drop_index('ix_runs_app_instance', table_name='runs')
    op.drop_index('ix_runs_app_status', table_name='runs')
