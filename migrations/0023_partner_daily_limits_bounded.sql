-- A partner's daily limits (points a UTC day and direction) are bounded by its rates, so that a
-- day at the limit keeps its settlement statement's points, units and cents within 2^52: half of
-- 2^53, the largest integer every JCS implementation writes exactly, which leaves room for the
-- last lines of the day before (program::partner_daily_points_max). The API and the program
-- document refuse larger limits; this makes the database refuse them too.
--
-- NOT VALID: a partner registered before the bound keeps the limits it was given, and its
-- exchanges count them only up to the bound (partners/exchanges.cpp, within_daily_limits).
ALTER TABLE partners ADD CONSTRAINT partners_daily_limits_bounded
    CHECK (greatest(per_member_daily_points, per_day_points)::numeric
           * greatest(cents_per_point, ceil(outbound_units_per_point_milli / 1000.0), 1)
           <= 4503599627370496) NOT VALID;
