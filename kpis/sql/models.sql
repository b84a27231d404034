-- The production model inventory as of the latest snapshot taken in each
-- period, from the relation of kpis/sql/model_rows.sql (snapshot date, tier-1).
SELECT period_start, grp, monitored, drift_monitored, documented, is_tier1
FROM (
    SELECT
        {period_date:snap} AS period_start,
        {group} AS grp,
        d.monitored, d.drift_monitored, d.documented, d.is_tier1,
        snap,
        max(snap) OVER (PARTITION BY {period_date:snap}) AS latest
    FROM {events:model_rows} d
    WHERE d.in_production {filters}
)
WHERE snap = latest
