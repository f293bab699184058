-- The supervisors' monitoring sessions of a call (who, which agent, how
-- they joined, start and end, the modes in order), as JSON like the legs
-- and transfers columns; NULL for a call nobody monitored.
ALTER TABLE calls ADD COLUMN monitors jsonb;
