-- Indexes that every earn paid for and no query reads any more.
--
-- event_awards_caps (0003) served the per-event count of a capped rule's awards and
-- event_awards_member_asset (0008) the per-event sum of a member's qualifying GROWTH; since
-- 0010 both are answered from the daily aggregates (member_rule_days, member_growth_days),
-- which the batch reads instead. Reads of event_awards now go by event (its primary key) or
-- scan it whole (the campaign cost report), so each award row carried two index insertions
-- for nothing.
DROP INDEX event_awards_caps;
DROP INDEX event_awards_member_asset;
