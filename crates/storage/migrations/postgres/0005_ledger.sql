-- The audit ledger (issue 15): the RFC 9162 Merkle tree over `events`, stored as its complete
-- subtrees (level 0 = leaf hashes; leaf index = seq - 1), written in the event's transaction,
-- and the signed checkpoints (C2SP tlog-checkpoint notes). Hashes are lowercase hex.
CREATE TABLE ledger_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE ledger_checkpoints (
    size BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    root TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (size, key_id)
);
