-- Single sign-on (issue #10): the audit log names callers signed in through the
-- API gateway's JWT authorizer as `via = 'sso'`.
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_via_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_via_check
    CHECK (via IN ('session', 'token', 'sso', 'none', 'no-auth'));
