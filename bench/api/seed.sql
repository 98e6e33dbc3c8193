-- 1,000 projects × 10 scenarios × 10 simple scripts (the bench's data set).
INSERT INTO projects (title, descrip)
SELECT format('project %s', lpad(p::text, 4, '0')), 'bench' FROM generate_series(1, 1000) p;
INSERT INTO scenarios (project_id, title)
SELECT p.id, format('scenario %s', s) FROM projects p, generate_series(1, 10) s;
INSERT INTO simple_scripts (scenario_id, name, path, scheme, http_method, rps, steps, duration, duration_secs, max_vus, headers, query_params)
SELECT sc.id, format('script %s', n), 'api.example.com/items', 'https', 'get', 10, 2, '5m', 300, 50,
       '{"Accept": "application/json"}', '[{"key": "q", "value": "1"}]'
FROM scenarios sc, generate_series(1, 10) n;
ANALYZE;
