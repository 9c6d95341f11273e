-- Concept: the date through which each national linkage source is complete ("status known through"), as of the
-- data cut-off: the latest complete_through of the returns received by the cut-off month, never after the cut-off.
-- Reference: Ko-CARTR dictionary form linkage_completeness (returns of the designated combination agency, PIPA
-- Art. 28-3); adtte reads DEATH_STATISTICS for OS censored where survival status is truly known (endpoints.md,
-- "Censoring where status is known").
select
    l.linkage_source,
    least(max(l.complete_through), any_value(c.data_cutoff)) as complete_through,
    arg_max(l.record_id, l.complete_through) as source_record_id
from {{ ref('stg_linkage_completeness') }} as l
cross join {{ ref('int_data_cutoff') }} as c
where l.complete_through is not null
group by l.linkage_source
