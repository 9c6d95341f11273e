-- adam.adtte: every ITT patient has OS_ITT; every patient infused by the cut-off has the eight infusion-anchored
-- parameters; exactly one of event (CNSR 0), censored (CNSR 1), competing (CMPEVFL = Y, CNSR NULL) per row, with its
-- description; OS / OS_ITT / PFS / EFS / DOR are never competing; AVAL >= 0 and ADT never after the cut-off.
with params as (
    select unnest(['OS', 'PFS', 'NRM', 'RELAPSE', 'SPM', 'SPM_TCELL', 'ANC_REC', 'PLT_REC']) as paramcd
),
expected as (
    select s.USUBJID, p.paramcd
    from {{ ref('adsl') }} as s cross join params as p
    where s.INFFL = 'Y' and s.TRTSDT <= s.DCUTDT
    union all
    select USUBJID, 'OS_ITT' from {{ ref('adsl') }} where coalesce(ORDERDT, TRTSDT) <= DCUTDT
),
missing as (
    select e.USUBJID, e.paramcd, 'missing parameter' as problem
    from expected as e
    left join {{ ref('adtte') }} as t on e.USUBJID = t.USUBJID and e.paramcd = t.PARAMCD
    where t.USUBJID is null
),
bad as (
    select t.USUBJID, t.PARAMCD, 'inconsistent row' as problem
    from {{ ref('adtte') }} as t
    join {{ ref('adsl') }} as s on t.USUBJID = s.USUBJID
    where (t.PARAMCD in ('OS', 'OS_ITT', 'PFS', 'EFS', 'DOR') and t.CMPEVFL = 'Y')
       or t.AVAL < 0 or t.AVAL is null or t.ADT > s.DCUTDT
       or (t.CNSR is null) <> (t.CMPEVFL = 'Y')
       or (t.CNSR = 0 and t.EVNTDESC is null) or (t.CNSR = 1 and t.CNSDTDSC is null)
       or (t.CMPEVFL = 'Y' and t.CMPEVDSC is null)
)
select * from missing
union all
select * from bad
