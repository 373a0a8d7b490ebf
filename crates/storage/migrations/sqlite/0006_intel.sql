-- interdict schema v6 (sqlite): threat-intelligence indicators and their matches against stored
-- assessments (issue 19). Applied migrations are never edited: add a new file.
CREATE TABLE intel_indicators (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    modified_at BIGINT,
    imported_at BIGINT NOT NULL
);
CREATE TABLE intel_matches (
    assessment_id TEXT NOT NULL REFERENCES assessments (id),
    indicator_id TEXT NOT NULL,
    value TEXT NOT NULL,
    location TEXT NOT NULL,
    body TEXT NOT NULL,
    matched_at BIGINT NOT NULL,
    PRIMARY KEY (assessment_id, indicator_id, value, location)
);
CREATE INDEX intel_matches_indicator ON intel_matches (indicator_id);
