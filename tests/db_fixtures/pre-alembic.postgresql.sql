--
-- PostgreSQL database dump
--

\restrict G9hna5o2XnC24kFYpviBzoa7cjw67cUR4pp6DX1qL8PtASUZ6LBuqo0GIPXckRh

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alerts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alerts (
    id bigint NOT NULL,
    key character varying(200) NOT NULL,
    severity character varying(16) NOT NULL,
    source character varying(32) NOT NULL,
    message text NOT NULL,
    recommendation text NOT NULL,
    stage integer,
    raised_at timestamp with time zone NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    count integer NOT NULL,
    resolved_at timestamp with time zone,
    notified boolean NOT NULL,
    details json
);


--
-- Name: alerts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.alerts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: alerts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.alerts_id_seq OWNED BY public.alerts.id;


--
-- Name: flag_audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flag_audit (
    id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(200) NOT NULL,
    action character varying(64) NOT NULL,
    outcome character varying(16) NOT NULL,
    version_before integer,
    version_after integer,
    before json,
    after json,
    reason text NOT NULL
);


--
-- Name: flag_audit_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.flag_audit_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: flag_audit_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.flag_audit_id_seq OWNED BY public.flag_audit.id;


--
-- Name: gate_evaluations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.gate_evaluations (
    id bigint NOT NULL,
    evaluated_at timestamp with time zone NOT NULL,
    run_id character varying(250),
    stage integer,
    percentage integer,
    canary character varying(16) NOT NULL,
    baseline character varying(16),
    window_start timestamp with time zone NOT NULL,
    window_end timestamp with time zone NOT NULL,
    verdict character varying(16) NOT NULL,
    reason text NOT NULL,
    canary_documents integer NOT NULL,
    baseline_documents integer NOT NULL,
    checks json NOT NULL,
    figures json NOT NULL,
    thresholds json NOT NULL
);


--
-- Name: gate_evaluations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.gate_evaluations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: gate_evaluations_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.gate_evaluations_id_seq OWNED BY public.gate_evaluations.id;


--
-- Name: gx_validations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.gx_validations (
    id bigint NOT NULL,
    evaluated_at timestamp with time zone NOT NULL,
    run_id character varying(250),
    stage integer,
    suite character varying(100) NOT NULL,
    success boolean,
    evaluated_expectations integer NOT NULL,
    successful_expectations integer NOT NULL,
    unsuccessful_expectations integer NOT NULL,
    documents integer NOT NULL,
    results json NOT NULL,
    data_docs_path text
);


--
-- Name: gx_validations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.gx_validations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: gx_validations_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.gx_validations_id_seq OWNED BY public.gx_validations.id;


--
-- Name: ocr_corrections; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ocr_corrections (
    id bigint NOT NULL,
    remediation_id bigint NOT NULL,
    request_id character varying(64) NOT NULL,
    stage integer,
    percentage integer,
    kind character varying(16),
    served_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    status character varying(16) NOT NULL,
    fields json NOT NULL,
    corrected_result json,
    published boolean NOT NULL
);


--
-- Name: ocr_corrections_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ocr_corrections_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ocr_corrections_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ocr_corrections_id_seq OWNED BY public.ocr_corrections.id;


--
-- Name: ocr_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ocr_events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    event_id character varying(32) NOT NULL,
    request_id character varying(64) NOT NULL,
    user_bucket character varying(16),
    engine character varying(16) NOT NULL,
    engine_version character varying(64),
    clock_offset_ms integer,
    kind character varying(16),
    stage integer NOT NULL,
    percentage integer NOT NULL,
    duration_ms integer NOT NULL,
    success boolean NOT NULL,
    error_class character varying(64),
    confidence double precision,
    pages integer,
    fallback boolean NOT NULL,
    shadow boolean NOT NULL,
    shadow_agreement double precision,
    field_agreement json
);


--
-- Name: ocr_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ocr_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ocr_events_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ocr_events_id_seq OWNED BY public.ocr_events.id;


--
-- Name: ocr_remediations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ocr_remediations (
    id bigint NOT NULL,
    run_id character varying(250),
    stage integer,
    percentage integer NOT NULL,
    cause character varying(32) NOT NULL,
    window_start timestamp with time zone NOT NULL,
    window_end timestamp with time zone NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    served integer NOT NULL,
    retained integer NOT NULL,
    reread integer NOT NULL,
    corrected integer NOT NULL,
    published integer NOT NULL,
    needs_review integer NOT NULL,
    failed integer NOT NULL,
    details json
);


--
-- Name: ocr_remediations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ocr_remediations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ocr_remediations_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ocr_remediations_id_seq OWNED BY public.ocr_remediations.id;


--
-- Name: rollout_state; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rollout_state (
    id integer NOT NULL,
    version integer NOT NULL,
    stage integer NOT NULL,
    percentage integer NOT NULL,
    flags json NOT NULL,
    maintenance_reason text NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    updated_by character varying(200) NOT NULL
);


--
-- Name: rollout_state_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.rollout_state_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: rollout_state_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.rollout_state_id_seq OWNED BY public.rollout_state.id;


--
-- Name: alerts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alerts ALTER COLUMN id SET DEFAULT nextval('public.alerts_id_seq'::regclass);


--
-- Name: flag_audit id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_audit ALTER COLUMN id SET DEFAULT nextval('public.flag_audit_id_seq'::regclass);


--
-- Name: gate_evaluations id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gate_evaluations ALTER COLUMN id SET DEFAULT nextval('public.gate_evaluations_id_seq'::regclass);


--
-- Name: gx_validations id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gx_validations ALTER COLUMN id SET DEFAULT nextval('public.gx_validations_id_seq'::regclass);


--
-- Name: ocr_corrections id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocr_corrections ALTER COLUMN id SET DEFAULT nextval('public.ocr_corrections_id_seq'::regclass);


--
-- Name: ocr_events id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocr_events ALTER COLUMN id SET DEFAULT nextval('public.ocr_events_id_seq'::regclass);


--
-- Name: ocr_remediations id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocr_remediations ALTER COLUMN id SET DEFAULT nextval('public.ocr_remediations_id_seq'::regclass);


--
-- Name: rollout_state id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rollout_state ALTER COLUMN id SET DEFAULT nextval('public.rollout_state_id_seq'::regclass);


--
-- Data for Name: alerts; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.alerts (id, key, severity, source, message, recommendation, stage, raised_at, last_seen_at, count, resolved_at, notified, details) FROM stdin;
\.


--
-- Data for Name: flag_audit; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.flag_audit (id, at, actor, action, outcome, version_before, version_after, before, after, reason) FROM stdin;
1	2026-12-07 16:58:26.892574+00	fixture	init	applied	\N	1	null	{"version": 1, "stage": 0, "percentage": 0, "flags": {"use_opensource_ocr": false, "disable_google_cloud": false, "gradual_rollout_enabled": true, "rollout_percentage": 0, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}, "maintenance_reason": ""}	initial state
2	2026-12-07 16:58:26.907555+00	fixture	set-percentage	applied	1	2	{"version": 1, "stage": 0, "percentage": 0, "flags": {"use_opensource_ocr": false, "disable_google_cloud": false, "gradual_rollout_enabled": true, "rollout_percentage": 0, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}, "maintenance_reason": ""}	{"version": 2, "stage": 1, "percentage": 10, "flags": {"use_opensource_ocr": true, "disable_google_cloud": false, "gradual_rollout_enabled": true, "rollout_percentage": 10, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}, "maintenance_reason": ""}	a stage before the upgrade
\.


--
-- Data for Name: gate_evaluations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.gate_evaluations (id, evaluated_at, run_id, stage, percentage, canary, baseline, window_start, window_end, verdict, reason, canary_documents, baseline_documents, checks, figures, thresholds) FROM stdin;
\.


--
-- Data for Name: gx_validations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.gx_validations (id, evaluated_at, run_id, stage, suite, success, evaluated_expectations, successful_expectations, unsuccessful_expectations, documents, results, data_docs_path) FROM stdin;
\.


--
-- Data for Name: ocr_corrections; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ocr_corrections (id, remediation_id, request_id, stage, percentage, kind, served_at, created_at, status, fields, corrected_result, published) FROM stdin;
\.


--
-- Data for Name: ocr_events; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ocr_events (id, at, event_id, request_id, user_bucket, engine, engine_version, clock_offset_ms, kind, stage, percentage, duration_ms, success, error_class, confidence, pages, fallback, shadow, shadow_agreement, field_agreement) FROM stdin;
1	2026-12-01 09:00:00+00	fixture-0	req-0	b	tesseract	\N	\N	\N	1	10	400	t	\N	0.9	1	f	f	\N	\N
2	2026-12-01 09:00:01+00	fixture-1	req-1	b	documentai	\N	\N	\N	1	10	401	t	\N	0.9	1	f	f	\N	\N
3	2026-12-01 09:00:02+00	fixture-2	req-2	b	tesseract	\N	\N	\N	1	10	402	t	\N	0.9	1	f	f	\N	\N
\.


--
-- Data for Name: ocr_remediations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ocr_remediations (id, run_id, stage, percentage, cause, window_start, window_end, started_at, finished_at, served, retained, reread, corrected, published, needs_review, failed, details) FROM stdin;
\.


--
-- Data for Name: rollout_state; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.rollout_state (id, version, stage, percentage, flags, maintenance_reason, updated_at, updated_by) FROM stdin;
1	2	1	10	{"use_opensource_ocr": true, "disable_google_cloud": false, "gradual_rollout_enabled": true, "enable_performance_monitoring": true, "enable_accuracy_comparison": false, "collect_ocr_metrics": true, "maintenance_mode": false, "force_opensource_for_testing": false}		2026-12-07 16:58:26.906532+00	fixture
\.


--
-- Name: alerts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.alerts_id_seq', 1, false);


--
-- Name: flag_audit_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.flag_audit_id_seq', 2, true);


--
-- Name: gate_evaluations_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.gate_evaluations_id_seq', 1, false);


--
-- Name: gx_validations_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.gx_validations_id_seq', 1, false);


--
-- Name: ocr_corrections_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.ocr_corrections_id_seq', 1, false);


--
-- Name: ocr_events_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.ocr_events_id_seq', 3, true);


--
-- Name: ocr_remediations_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.ocr_remediations_id_seq', 1, false);


--
-- Name: rollout_state_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.rollout_state_id_seq', 1, false);


--
-- Name: alerts alerts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (id);


--
-- Name: flag_audit flag_audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flag_audit
    ADD CONSTRAINT flag_audit_pkey PRIMARY KEY (id);


--
-- Name: gate_evaluations gate_evaluations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gate_evaluations
    ADD CONSTRAINT gate_evaluations_pkey PRIMARY KEY (id);


--
-- Name: gx_validations gx_validations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gx_validations
    ADD CONSTRAINT gx_validations_pkey PRIMARY KEY (id);


--
-- Name: ocr_corrections ocr_corrections_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocr_corrections
    ADD CONSTRAINT ocr_corrections_pkey PRIMARY KEY (id);


--
-- Name: ocr_events ocr_events_event_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocr_events
    ADD CONSTRAINT ocr_events_event_id_key UNIQUE (event_id);


--
-- Name: ocr_events ocr_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocr_events
    ADD CONSTRAINT ocr_events_pkey PRIMARY KEY (id);


--
-- Name: ocr_remediations ocr_remediations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocr_remediations
    ADD CONSTRAINT ocr_remediations_pkey PRIMARY KEY (id);


--
-- Name: rollout_state rollout_state_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rollout_state
    ADD CONSTRAINT rollout_state_pkey PRIMARY KEY (id);


--
-- Name: ix_alerts_open; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_alerts_open ON public.alerts USING btree (key, resolved_at);


--
-- Name: ix_alerts_raised; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_alerts_raised ON public.alerts USING btree (severity, raised_at);


--
-- Name: ix_flag_audit_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_flag_audit_at ON public.flag_audit USING btree (at);


--
-- Name: ix_gate_evaluations_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_gate_evaluations_at ON public.gate_evaluations USING btree (evaluated_at);


--
-- Name: ix_gate_evaluations_run; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_gate_evaluations_run ON public.gate_evaluations USING btree (run_id, evaluated_at);


--
-- Name: ix_gx_validations_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_gx_validations_at ON public.gx_validations USING btree (evaluated_at);


--
-- Name: ix_gx_validations_run; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_gx_validations_run ON public.gx_validations USING btree (run_id, evaluated_at);


--
-- Name: ix_ocr_corrections_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ocr_corrections_at ON public.ocr_corrections USING btree (created_at);


--
-- Name: ix_ocr_corrections_request; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX ix_ocr_corrections_request ON public.ocr_corrections USING btree (remediation_id, request_id);


--
-- Name: ix_ocr_events_at_covering; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ocr_events_at_covering ON public.ocr_events USING btree (at) INCLUDE (engine, stage, shadow, success, fallback, duration_ms, confidence, error_class, kind);


--
-- Name: ix_ocr_events_engine_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ocr_events_engine_at ON public.ocr_events USING btree (engine, at);


--
-- Name: ix_ocr_remediations_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ocr_remediations_at ON public.ocr_remediations USING btree (started_at);


--
-- PostgreSQL database dump complete
--

\unrestrict G9hna5o2XnC24kFYpviBzoa7cjw67cUR4pp6DX1qL8PtASUZ6LBuqo0GIPXckRh

