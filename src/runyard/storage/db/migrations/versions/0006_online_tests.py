"""shadow and switchback tests, ensemble definitions, run routing, ensemble children and clones

Revision ID: 0006
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

from runyard.storage.db.tables import UTCDateTime


revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('routing', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('parent_run_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('cloned_run_id', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_runs_parent_run_id'), 'runs', ['parent_run_id'], unique=False)
    op.create_table(
        'online_tests',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('app_pk', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('id', sa.String(length=128), nullable=False),
        sa.Column('name', sa.String(length=256), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('comparisons', sa.JSON(), nullable=False),
        sa.Column('start_time', UTCDateTime(), nullable=True),
        sa.Column('end_time', UTCDateTime(), nullable=True),
        sa.Column('maximum_runs', sa.Integer(), nullable=True),
        sa.Column('plan', sa.JSON(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=True),
        sa.Column('completed_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['app_pk'], ['applications.pk'], name=op.f('fk_online_tests_app_pk_applications'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk', name=op.f('pk_online_tests')),
        sa.UniqueConstraint('app_pk', 'kind', 'id', name=op.f('uq_online_tests_app_pk')),
    )
    op.create_index(op.f('ix_online_tests_app_pk'), 'online_tests', ['app_pk'], unique=False)
    op.create_table(
        'online_test_runs',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('test_pk', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('instance_id', sa.String(length=128), nullable=False),
        sa.Column('source_run_id', sa.String(length=64), nullable=True),
        sa.Column('unit_index', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['test_pk'], ['online_tests.pk'], name=op.f('fk_online_test_runs_test_pk_online_tests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk', name=op.f('pk_online_test_runs')),
    )
    op.create_index(op.f('ix_online_test_runs_test_pk'), 'online_test_runs', ['test_pk'], unique=False)
    op.create_index(op.f('ix_online_test_runs_run_id'), 'online_test_runs', ['run_id'], unique=False)
    op.create_table(
        'ensemble_definitions',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('app_pk', sa.Integer(), nullable=False),
        sa.Column('id', sa.String(length=128), nullable=False),
        sa.Column('name', sa.String(length=256), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('run_groups', sa.JSON(), nullable=False),
        sa.Column('rules', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['app_pk'], ['applications.pk'], name=op.f('fk_ensemble_definitions_app_pk_applications'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk', name=op.f('pk_ensemble_definitions')),
        sa.UniqueConstraint('app_pk', 'id', name=op.f('uq_ensemble_definitions_app_pk')),
    )
    op.create_index(op.f('ix_ensemble_definitions_app_pk'), 'ensemble_definitions', ['app_pk'], unique=False)


def downgrade() -> None:
    op.drop_table('ensemble_definitions')
    op.drop_table('online_test_runs')
    op.drop_table('online_tests')
    op.drop_index(op.f('ix_runs_parent_run_id'), table_name='runs')
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('cloned_run_id')
        batch.drop_column('parent_run_id')
        batch.drop_column('routing')

