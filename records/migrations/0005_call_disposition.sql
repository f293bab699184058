-- The wrap-up code (disposition) an agent gave the call: the latest
-- event of kind disposition for the call, copied onto its row when
-- either is written (the code usually comes after the call's row).
ALTER TABLE calls ADD COLUMN disposition text NOT NULL DEFAULT '';
