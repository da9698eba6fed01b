-- Indexes for the read endpoints of the operator console (docs/API.md): each list walks its
-- index in the order it answers, from the cursor, and reads no row it does not return.

-- GET /v1/members/{id}/lots: a member's lots, soonest expiry first, spent ones included
-- (lots_spendable covers spendable lots only).
CREATE INDEX lots_by_member ON lots (member_id, expires_at, lot_id);

-- GET /v1/members/{id}/holds: newest first, closed ones included (holds_open_by_member covers
-- open holds only). A hold's opening entry id is its place in time and never changes.
CREATE INDEX holds_by_member ON holds (member_id, open_entry_id);

-- GET /v1/members/{id}/orders: newest first.
DROP INDEX orders_member;
CREATE INDEX orders_member ON orders (member_id, created_at, order_id);

-- GET /v1/members/{id}/partner-links: the unique (partner_id, member_id) starts with the partner.
CREATE INDEX partner_links_member ON partner_links (member_id, linked_at, partner_id);

-- GET /v1/partners/{id}/exchanges: newest first over every settlement day.
CREATE INDEX partner_exchanges_partner ON partner_exchanges (partner_id, exchange_row);

-- GET /v1/exports: newest first.
CREATE INDEX exports_created ON exports (created_at, export_id);
