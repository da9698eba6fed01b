-- Member links need the partner's confirmation (issue #12, item 10). A link made with
-- POST /v1/members/{id}/partner-links is `pending` until the partner redeems, over its signed
-- API, the one-time link code our app showed the member (POST /partner/v1/links/confirm).
-- Only a `confirmed` link lets value or rights move between the member and the partner.
--
-- The code itself is never stored: only SHA-256 over the partner, the ref and the code
-- (partners/links.cpp), its expiry and the wrong attempts counted against it. The hash is
-- kept after confirmation so that a retried confirmation with the same code answers the same.
--
-- Links made before this migration were made under the old rules, by the program's own keys,
-- and exchanges may already have moved value through them: they stay usable, `confirmed`
-- at the time they were linked, by 'migration:0012'. docs/api/partners.md says so.

ALTER TABLE partner_links ADD COLUMN status text NOT NULL DEFAULT 'confirmed'
    CHECK (status IN ('pending', 'confirmed'));
ALTER TABLE partner_links ALTER COLUMN status DROP DEFAULT;
ALTER TABLE partner_links ADD COLUMN confirmed_at timestamptz;
-- Who confirmed: "partner:skyair (key pkey_…)", or 'migration:0012' for the links above.
ALTER TABLE partner_links ADD COLUMN confirmed_by text;
ALTER TABLE partner_links ADD COLUMN link_code_sha256 text CHECK (link_code_sha256 ~ '^[0-9a-f]{64}$');
ALTER TABLE partner_links ADD COLUMN link_code_expires_at timestamptz;
ALTER TABLE partner_links ADD COLUMN link_code_failed_attempts integer NOT NULL DEFAULT 0
    CHECK (link_code_failed_attempts >= 0);

UPDATE partner_links SET confirmed_at = linked_at, confirmed_by = 'migration:0012' WHERE status = 'confirmed';

ALTER TABLE partner_links ADD CONSTRAINT partner_links_confirmed_when_confirmed
    CHECK ((status = 'confirmed') = (confirmed_at IS NOT NULL AND confirmed_by IS NOT NULL));
ALTER TABLE partner_links ADD CONSTRAINT partner_links_pending_has_code
    CHECK (status = 'confirmed' OR (link_code_sha256 IS NOT NULL AND link_code_expires_at IS NOT NULL));

-- No new table: loyalty_app's grants on partner_links (migrations/0011: SELECT, INSERT,
-- UPDATE, DELETE) cover the new columns. DELETE is used for one thing only: a pending link
-- whose code is void (expired or locked), which never moved anything, is replaced when the
-- member or the ref is linked again (partners/links.cpp).
