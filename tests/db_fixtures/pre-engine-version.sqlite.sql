PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE rollout_state (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	stage INTEGER NOT NULL, 
	percentage INTEGER NOT NULL, 
	flags JSON NOT NULL, 
	maintenance_reason TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	updated_by VARCHAR(200) NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO rollout_state VALUES(1,2,1,10,'{"use_opensource_ocr": true, "disable_google_cloud": false, "gradual_rollout_enabled": true, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}','','2026-12-07 16:58:25.264081','fixture');
CREATE TABLE flag_audit (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	version_before INTEGER, 
	version_after INTEGER, 
	"before" JSON, 
	"after" JSON, 
	reason TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO flag_audit VALUES(1,'2026-12-07 16:58:25.255858','fixture','init','applied',NULL,1,'null','{"version": 1, "stage": 0, "percentage": 0, "flags": {"use_opensource_ocr": false, "disable_google_cloud": false, "gradual_rollout_enabled": true, "rollout_percentage": 0, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}, "maintenance_reason": ""}','initial state');
INSERT INTO flag_audit VALUES(2,'2026-12-07 16:58:25.264746','fixture','set-percentage','applied',1,2,'{"version": 1, "stage": 0, "percentage": 0, "flags": {"use_opensource_ocr": false, "disable_google_cloud": false, "gradual_rollout_enabled": true, "rollout_percentage": 0, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}, "maintenance_reason": ""}','{"version": 2, "stage": 1, "percentage": 10, "flags": {"use_opensource_ocr": true, "disable_google_cloud": false, "gradual_rollout_enabled": true, "rollout_percentage": 10, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}, "maintenance_reason": ""}','a stage before the upgrade');
CREATE TABLE ocr_events (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	event_id VARCHAR(32) NOT NULL, 
	request_id VARCHAR(64) NOT NULL, 
	user_bucket VARCHAR(16), 
	engine VARCHAR(16) NOT NULL, 
	stage INTEGER NOT NULL, 
	percentage INTEGER NOT NULL, 
	duration_ms INTEGER NOT NULL, 
	success BOOLEAN NOT NULL, 
	error_class VARCHAR(64), 
	confidence FLOAT, 
	pages INTEGER, 
	fallback BOOLEAN NOT NULL, 
	shadow BOOLEAN NOT NULL, 
	shadow_agreement FLOAT, 
	field_agreement JSON, 
	PRIMARY KEY (id), 
	UNIQUE (event_id)
);
INSERT INTO ocr_events VALUES(1,'2026-12-01 09:00:00.000000','fixture-0','req-0','b','tesseract',1,10,400,1,NULL,0.9000000000000000222,1,0,0,NULL,NULL);
INSERT INTO ocr_events VALUES(2,'2026-12-01 09:00:01.000000','fixture-1','req-1','b','documentai',1,10,401,1,NULL,0.9000000000000000222,1,0,0,NULL,NULL);
INSERT INTO ocr_events VALUES(3,'2026-12-01 09:00:02.000000','fixture-2','req-2','b','tesseract',1,10,402,1,NULL,0.9000000000000000222,1,0,0,NULL,NULL);
CREATE TABLE gate_evaluations (
	id INTEGER NOT NULL, 
	evaluated_at DATETIME NOT NULL, 
	run_id VARCHAR(250), 
	stage INTEGER, 
	percentage INTEGER, 
	canary VARCHAR(16) NOT NULL, 
	baseline VARCHAR(16), 
	window_start DATETIME NOT NULL, 
	window_end DATETIME NOT NULL, 
	verdict VARCHAR(16) NOT NULL, 
	reason TEXT NOT NULL, 
	canary_documents INTEGER NOT NULL, 
	baseline_documents INTEGER NOT NULL, 
	checks JSON NOT NULL, 
	figures JSON NOT NULL, 
	thresholds JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	"key" VARCHAR(200) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	message TEXT NOT NULL, 
	recommendation TEXT NOT NULL, 
	stage INTEGER, 
	raised_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	count INTEGER NOT NULL, 
	resolved_at DATETIME, 
	notified BOOLEAN NOT NULL, 
	details JSON, 
	PRIMARY KEY (id)
);
CREATE TABLE gx_validations (
	id INTEGER NOT NULL, 
	evaluated_at DATETIME NOT NULL, 
	run_id VARCHAR(250), 
	stage INTEGER, 
	suite VARCHAR(100) NOT NULL, 
	success BOOLEAN, 
	evaluated_expectations INTEGER NOT NULL, 
	successful_expectations INTEGER NOT NULL, 
	unsuccessful_expectations INTEGER NOT NULL, 
	documents INTEGER NOT NULL, 
	results JSON NOT NULL, 
	data_docs_path TEXT, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_flag_audit_at ON flag_audit (at);
CREATE INDEX ix_ocr_events_at_covering ON ocr_events (at);
CREATE INDEX ix_ocr_events_engine_at ON ocr_events (engine, at);
CREATE INDEX ix_gate_evaluations_run ON gate_evaluations (run_id, evaluated_at);
CREATE INDEX ix_gate_evaluations_at ON gate_evaluations (evaluated_at);
CREATE INDEX ix_alerts_raised ON alerts (severity, raised_at);
CREATE INDEX ix_alerts_open ON alerts ("key", resolved_at);
CREATE INDEX ix_gx_validations_at ON gx_validations (evaluated_at);
CREATE INDEX ix_gx_validations_run ON gx_validations (run_id, evaluated_at);
COMMIT;
