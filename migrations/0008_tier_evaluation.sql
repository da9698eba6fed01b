-- evaluate-tiers marks each member it has judged for a moment, so a run that stops midway
-- resumes where it was and a second run for the same moment judges nobody twice.
ALTER TABLE member_tiers ADD COLUMN evaluated_through timestamptz;
CREATE INDEX member_tiers_due ON member_tiers (guaranteed_until);
-- Qualifying values are sums over a member's events in a window.
CREATE INDEX event_awards_member_asset ON event_awards (member_id, asset, occurred_at);
