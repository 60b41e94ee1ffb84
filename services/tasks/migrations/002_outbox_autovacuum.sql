-- The outbox is a queue: every row is inserted, updated once (published, a non-HOT update
-- since it leaves the partial indexes) and deleted after the retention. With the default
-- thresholds (20% of the table) dead index entries pile up between vacuums and the relay's
-- index scans walk them; vacuum and analyze this table after about 2% instead.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0.02,
                        autovacuum_vacuum_threshold = 1000,
                        autovacuum_analyze_scale_factor = 0.02,
                        autovacuum_analyze_threshold = 1000);
