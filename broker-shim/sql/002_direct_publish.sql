-- The shim publishes our events to RabbitMQ from its subscriber's batch
-- handler now, and the checkpoints commit only after RabbitMQ confirmed
-- the batch: no outbox any more.
--
-- Events still in the outbox were past the subscriber's checkpoints but
-- not confirmed by RabbitMQ. Each (stream, partition) checkpoint of the
-- consumer group 'shim' moves back to just below its oldest such event,
-- so the subscriber applies (publishes) them again from the streams'
-- event logs; what was published already goes out again with the same
-- message id, which MassTransit's inbox drops.
UPDATE bus_checkpoints AS checkpoint
SET last_seq = pending.first_seq - 1, updated_at = now()
FROM (SELECT stream, partition, min(seq) AS first_seq
      FROM shim_outbox GROUP BY stream, partition) AS pending
WHERE checkpoint.consumer = 'shim'
  AND checkpoint.stream = pending.stream
  AND checkpoint.partition = pending.partition
  AND checkpoint.last_seq >= pending.first_seq;

-- Rows the relay could not encode become the subscriber's dead letters,
-- where the HTTP routes list, retry and discard them like any other.
INSERT INTO bus_dead_letters (consumer, stream, seq, partition, type, message_id, envelope,
                              error, attempts, first_failed_at, last_failed_at)
SELECT 'shim', stream, seq, partition, type, message_id, envelope,
       reason || ' (' || error || ')', 1, failed_at, failed_at
FROM shim_outbox_failed
ON CONFLICT (consumer, stream, seq) DO NOTHING;

DROP TABLE shim_outbox;
DROP TABLE shim_outbox_failed;
