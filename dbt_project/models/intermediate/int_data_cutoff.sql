-- Concept: the data cut-off date used for censoring and follow-up visit states (one row).
-- Reference: Ko-CARTR analysis conventions (docs/ARCHITECTURE.md). Always the given cut-off (macro data_cutoff: dbt
-- var `data_cutoff` or KOCARTR_DATA_CUTOFF, the registry month's last day); the build fails without one.
select
    cast('{{ data_cutoff() }}' as date) as data_cutoff,
    'given cut-off (dbt var data_cutoff or KOCARTR_DATA_CUTOFF)' as cutoff_source
