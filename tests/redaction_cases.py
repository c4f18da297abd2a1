"""Real-world secret shapes ``shared.redact.redact`` must catch, and look-alikes it must leave alone.

``SECRET_CASES``: (case name, text as a log line / exception / query shows it, the secret substring
that must not survive). ``LOOKALIKE_CASES``: (case name, text that must come out unchanged).

The fake secrets have each vendor's prefix, length and character set, but are drawn from a seeded
generator when this module is imported instead of being written out: a literal that matched a
secret scanner's pattern (GitHub push protection, gitleaks) would block every push of this file.
The seed makes every run see the same values.
"""

from __future__ import annotations

import random
import string

_rng = random.Random(20261123)

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
BASE32 = string.ascii_uppercase + "234567"
HEX = "0123456789abcdef"
BASE64 = ALNUM + "+/"
BASE64URL = ALNUM + "-_"
PASSWORD_CHARS = ALNUM + "!#%^*()[]~"


def _r(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _aws_secret() -> str:
    """40 base64 chars as IAM issues them: in practice mixed case with a digit, not starting with '/'."""
    while True:
        s = _r(40, BASE64)
        if (
            any(c.isupper() for c in s)
            and any(c.islower() for c in s)
            and any(c.isdigit() for c in s)
            and not s.startswith("/")
        ):
            return s


def _password(n: int = 16) -> str:
    return _r(1, string.ascii_letters) + _r(n - 2, PASSWORD_CHARS) + _r(1, string.digits)


def _pem_body(first: str, lines: int = 4) -> str:
    """A PEM body: full lines of 64 base64 chars and a shorter last one, beginning with the DER prefix
    of its key type."""
    body = first + _r(64 * lines + 24 - len(first), BASE64) + "=="
    return "\n".join(body[i : i + 64] for i in range(0, len(body), 64))


def _case(name: str, template: str, secret: str) -> tuple[str, str, str]:
    return name, template.replace("{s}", secret), secret


AKIA = "AKIA" + _r(16, BASE32)
ASIA = "ASIA" + _r(16, BASE32)
SESSION_TOKEN = "IQoJb3JpZ2luX2VjE" + _r(340, BASE64) + "="
SIGV4 = _r(64, HEX)
GCP_KEY_BODY = "\\n".join(_pem_body("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ").split("\n"))
GCP_KEY_ID = _r(40, HEX)
PRESIGNED = (
    "https://shop-raw.s3.eu-central-1.amazonaws.com/exports/orders.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={AKIA}%2F20261123%2Feu-central-1%2Fs3%2Faws4_request&X-Amz-Date=20261123T030012Z"
    f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGV4}"
)
_sas = _r(43, BASE64) + "="
SAS_SIG = _sas.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")

SECRET_CASES: list[tuple[str, str, str]] = [
    # ---- AWS ----------------------------------------------------------------------------------------
    _case(
        "aws_access_key_id_in_botocore_error",
        "botocore.exceptions.ClientError: An error occurred (InvalidAccessKeyId) when calling the GetObject "
        "operation: The AWS Access Key Id you provided does not exist in our records. ({s})",
        AKIA,
    ),
    _case("aws_temporary_access_key_id_in_json", '{"AccessKeyId": "{s}", "Expiration": "2026-11-23T04:00:00Z"}', ASIA),
    _case(
        "aws_secret_access_key_in_credentials_file",
        f"[default]\naws_access_key_id = {AKIA}\naws_secret_access_key = {{s}}\nregion = eu-central-1",
        _aws_secret(),
    ),
    _case("aws_secret_access_key_env_line", "AWS_SECRET_ACCESS_KEY={s}", _aws_secret()),
    _case(
        "aws_secret_access_key_in_python_repr",
        f"assumed role: {{'AccessKeyId': '{ASIA}', 'SecretAccessKey': '{{s}}', 'SessionToken': "
        f"'{SESSION_TOKEN}', 'Expiration': datetime.datetime(2026, 11, 23, 4, 0, tzinfo=tzutc())}}",
        _aws_secret(),
    ),
    _case(
        "aws_secret_access_key_in_sts_json",
        f'{{"Credentials": {{"AccessKeyId": "{ASIA}", "SecretAccessKey": "{{s}}", '
        '"Expiration": "2026-11-23T04:00:00Z"}}',
        _aws_secret(),
    ),
    _case(
        "aws_secret_access_key_bare_in_credentials_csv",
        f"User name,Access key ID,Secret access key\nairflow-worker,{AKIA},{{s}}\n",
        _aws_secret(),
    ),
    _case(
        "aws_secret_access_key_in_boto3_kwargs",
        f"boto3.client('s3', aws_access_key_id='{AKIA}', aws_secret_access_key='{{s}}')",
        _aws_secret(),
    ),
    _case("aws_session_token_env_line", "AWS_SESSION_TOKEN={s}", SESSION_TOKEN),
    _case("aws_session_token_bare", "refreshed credentials; session {s} valid for 3600s", SESSION_TOKEN),
    _case("aws_presigned_url_signature", "GET " + PRESIGNED + " -> 403 SignatureDoesNotMatch", SIGV4),
    _case("aws_presigned_url_credential", "GET " + PRESIGNED + " -> 403 SignatureDoesNotMatch", AKIA),
    _case(
        "aws_sigv4_authorization_header",
        f"Authorization: AWS4-HMAC-SHA256 Credential={AKIA}/20261123/eu-central-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={s}",
        _r(64, HEX),
    ),
    # ---- Google Cloud -------------------------------------------------------------------------------
    _case(
        "gcp_service_account_private_key_in_json",
        '{"type": "service_account", "project_id": "shop-analytics", "private_key_id": "' + GCP_KEY_ID + '", '
        '"private_key": "-----BEGIN PRIVATE KEY-----\\n{s}\\n-----END PRIVATE KEY-----\\n", '
        '"client_email": "airflow@shop-analytics.iam.gserviceaccount.com", '
        '"token_uri": "https://oauth2.googleapis.com/token"}',
        GCP_KEY_BODY,
    ),
    _case(
        "gcp_service_account_private_key_id",
        '{"type": "service_account", "private_key_id": "{s}", "client_id": "104857392019384756102"}',
        GCP_KEY_ID,
    ),
    _case(
        "gcp_service_account_private_key_in_python_repr",
        "google.auth.exceptions.MalformedError: bad key in {'type': 'service_account', "
        "'private_key': '-----BEGIN PRIVATE KEY-----\\n{s}\\n-----END PRIVATE KEY-----\\n'}",
        GCP_KEY_BODY,
    ),
    _case(
        "gcp_service_account_pretty_printed",
        '{\n  "type": "service_account",\n  "project_id": "shop-analytics",\n'
        '  "private_key": "-----BEGIN PRIVATE KEY-----\\n{s}\\n-----END PRIVATE KEY-----\\n",\n'
        '  "client_email": "airflow@shop-analytics.iam.gserviceaccount.com"\n}',
        GCP_KEY_BODY,
    ),
    _case(
        "google_api_key_in_url",
        "GET https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={s} -> 403",
        "AIza" + _r(35, BASE64URL),
    ),
    _case(
        "google_api_key_bare",
        "BigQuery client built with api key {s} (project shop-analytics)",
        "AIza" + _r(35, BASE64URL),
    ),
    _case(
        "google_oauth_client_secret_json",
        '{"installed": {"client_id": "1048.apps.googleusercontent.com", "client_secret": "{s}"}}',
        "GOCSPX-" + _r(28, BASE64URL),
    ),
    # ---- Azure --------------------------------------------------------------------------------------
    _case(
        "azure_storage_connection_string_account_key",
        "DefaultEndpointsProtocol=https;AccountName=shoplake;AccountKey={s};EndpointSuffix=core.windows.net",
        _r(86, BASE64) + "==",
    ),
    _case(
        "azure_sas_url_sig",
        "HttpResponseError: https://shoplake.blob.core.windows.net/raw/orders.csv?sv=2022-11-02&ss=b&srt=sco"
        "&sp=rl&se=2026-12-01T00:00:00Z&st=2026-11-23T00:00:00Z&spr=https&sig={s} (AuthenticationFailed)",
        SAS_SIG,
    ),
    _case(
        "azure_sas_token_env_line",
        "AZURE_STORAGE_SAS_TOKEN=?sv=2022-11-02&ss=bfqt&srt=sco&sp=rl&se=2026-12-01T00:00:00Z&sig={s}",
        SAS_SIG,
    ),
    _case(
        "azure_service_bus_shared_access_key",
        "Endpoint=sb://shop-events.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey={s}",
        _r(43, BASE64) + "=",
    ),
    # ---- Slack --------------------------------------------------------------------------------------
    _case(
        "slack_bot_token",
        "slack_sdk.errors.SlackApiError: invalid_auth for {s}",
        f"xoxb-{_r(12, string.digits)}-{_r(13, string.digits)}-{_r(24)}",
    ),
    _case(
        "slack_user_token",
        "posting as user with {s}",
        f"xoxp-{_r(12, string.digits)}-{_r(12, string.digits)}-{_r(13, string.digits)}-{_r(32, HEX)}",
    ),
    _case(
        "slack_legacy_workspace_token",
        "workspace app token {s} revoked",
        f"xoxa-2-{_r(12, string.digits)}-{_r(12, string.digits)}-{_r(13, string.digits)}-{_r(64, HEX)}",
    ),
    _case("slack_refresh_token", "oauth.v2.access refresh_token {s}", f"xoxr-{_r(12, string.digits)}-{_r(40)}"),
    _case(
        "slack_session_token",
        "legacy session token {s}",
        f"xoxs-{_r(12, string.digits)}-{_r(12, string.digits)}-{_r(13, string.digits)}-{_r(64, HEX)}",
    ),
    _case(
        "slack_app_level_token",
        "socket mode: apps.connections.open failed for {s}: invalid_auth",
        f"xapp-1-A0{_r(9, UPPER_ALNUM)}-{_r(13, string.digits)}-{_r(64, HEX)}",
    ),
    _case("slack_rotating_user_token", "token rotation issued {s}", f"xoxe.xoxp-1-{_r(140)}"),
    _case("slack_rotation_refresh_token", "tooling.tokens.rotate with {s}", f"xoxe-1-{_r(140)}"),
    _case(
        "slack_incoming_webhook",
        "POST https://hooks.slack.com/services/T0"
        + _r(8, UPPER_ALNUM)
        + "/B0"
        + _r(8, UPPER_ALNUM)
        + "/{s} -> 404 no_service",
        _r(24),
    ),
    # ---- GitHub / GitLab ----------------------------------------------------------------------------
    _case("github_classic_pat", "git ls-remote failed with token {s}", "ghp_" + _r(36)),
    _case("github_oauth_token", "gh auth status: Logged in with oauth token {s}", "gho_" + _r(36)),
    _case("github_user_to_server_token", "app user token {s} expired", "ghu_" + _r(36)),
    _case(
        "github_installation_token_in_clone_url",
        "fatal: Authentication failed for 'https://x-access-token:{s}@github.com/shop/dbt.git/'",
        "ghs_" + _r(36),
    ),
    _case("github_refresh_token", "refresh with {s}", "ghr_" + _r(76)),
    _case(
        "github_fine_grained_pat_as_url_user",
        "git clone https://{s}@github.com/shop/dbt.git",
        "github_pat_" + _r(22) + "_" + _r(59),
    ),
    _case(
        "gitlab_personal_access_token",
        "git clone https://oauth2:{s}@gitlab.com/shop/dbt.git",
        "glpat-" + _r(20, BASE64URL),
    ),
    # ---- payment, messaging, registries, AI ---------------------------------------------------------
    _case(
        "stripe_live_secret_key", "stripe.error.AuthenticationError: Invalid API Key provided: {s}", "sk_live_" + _r(99)
    ),
    _case("stripe_restricted_key", "using restricted key {s}", "rk_live_" + _r(99)),
    _case(
        "sendgrid_api_key",
        "python_http_client.exceptions.UnauthorizedError: key {s}",
        "SG." + _r(22, BASE64URL) + "." + _r(43, BASE64URL),
    ),
    _case("twilio_api_key_sid", "twilio client with api key {s}", "SK" + _r(32, HEX)),
    _case("twilio_auth_token_env_line", "TWILIO_AUTH_TOKEN={s}", _r(32, HEX)),
    _case("npm_token_in_npmrc", "//registry.npmjs.org/:_authToken={s}", "npm_" + _r(36)),
    _case(
        "pypi_token_bare", "twine upload: 403 for user __token__ with {s}", "pypi-AgEIcHlwaS5vcmc" + _r(160, BASE64URL)
    ),
    _case(
        "openai_project_key",
        "openai.AuthenticationError: Error code: 401 - Incorrect API key provided: {s}",
        "sk-proj-" + _r(156, BASE64URL),
    ),
    _case("openai_legacy_key", "OPENAI key {s} rejected", "sk-" + _r(48)),
    _case("anthropic_api_key", "anthropic.AuthenticationError for key {s}", "sk-ant-api03-" + _r(93, BASE64URL) + "AA"),
    _case("databricks_token", "databricks-sql: 403 for token {s}", "dapi" + _r(32, HEX)),
    _case(
        "vault_service_token", "hvac.exceptions.Forbidden: permission denied (token {s})", "hvs." + _r(90, BASE64URL)
    ),
    # ---- JWTs and PEM keys --------------------------------------------------------------------------
    _case(
        "jwt_bare",
        # no key name, header or auth scheme near it, so only the JWT rule can catch it (behind
        # "Bearer", as in jwt_bearer_header, two other rules mask it and a lost JWT rule goes unseen)
        "Airflow API 401: the JWT {s} has expired",
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + _r(120, BASE64URL) + "." + _r(342, BASE64URL),
    ),
    _case(
        "jwt_bearer_header",
        "Authorization: Bearer {s}",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + _r(80, BASE64URL) + "." + _r(43, BASE64URL),
    ),
    _case(
        "pem_rsa_private_key",
        "ssh key:\n-----BEGIN RSA PRIVATE KEY-----\n{s}\n-----END RSA PRIVATE KEY-----\ndone",
        _pem_body("MIIEpAIBAAKCAQEA", 6),
    ),
    _case(
        "pem_ec_private_key",
        "-----BEGIN EC PRIVATE KEY-----\n{s}\n-----END EC PRIVATE KEY-----",
        _pem_body("MHcCAQEEI", 2),
    ),
    _case(
        "pem_openssh_private_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{s}\n-----END OPENSSH PRIVATE KEY-----\n",
        _pem_body("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW", 5),
    ),
    _case(
        "pem_encrypted_private_key",
        "snowflake private key:\n-----BEGIN ENCRYPTED PRIVATE KEY-----\n{s}\n-----END ENCRYPTED PRIVATE KEY-----",
        _pem_body("MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI", 5),
    ),
    _case(
        "pem_private_key_cut_off_without_end_line",
        "ValueError: Could not deserialize key data: -----BEGIN PRIVATE KEY-----\n{s}",
        _pem_body("MIIEvgIBADANBgkqhkiG9w0BAQEFAASC", 3),
    ),
    # ---- connection strings -------------------------------------------------------------------------
    _case("postgresql_url", "sqlalchemy.exc.OperationalError: postgresql://etl:{s}@db.internal:5432/analytics", _r(18)),
    _case("postgres_psycopg_url", "engine = create_engine('postgres+psycopg://etl:{s}@db.internal/analytics')", _r(18)),
    _case("snowflake_url", "snowflake://loader:{s}@ab12345.eu-central-1/analytics/raw?warehouse=transform_wh", _r(20)),
    _case("redis_url_password_only", "Error 111 connecting to redis://:{s}@redis.internal:6379/0", _r(32)),
    _case("rediss_url_with_user", "rediss://default:{s}@cache.internal:6380/0?ssl_cert_reqs=required", _r(32)),
    _case("mysql_url", "mysql://reporting:{s}@mysql.internal:3306/shop", _r(16)),
    _case(
        "mongodb_srv_url",
        "pymongo.errors.OperationFailure: mongodb+srv://etl:{s}@cluster0.ab1cd.mongodb.net/?retryWrites=true",
        _r(16),
    ),
    _case("amqp_url", "kombu: amqp://celery:{s}@rabbit.internal:5672//", _r(20)),
    _case(
        "password_with_at_and_slash_in_url", "postgresql://etl:{s}@db.internal/analytics", "pa@" + _r(6) + "/" + _r(6)
    ),
    _case(
        "jdbc_postgresql_query_password",
        "jdbc:postgresql://db.internal:5432/analytics?user=etl&password={s}&ssl=true",
        _r(18),
    ),
    _case(
        "jdbc_sqlserver_password", "jdbc:sqlserver://sql.internal:1433;databaseName=dw;user=etl;password={s};", _r(18)
    ),
    _case(
        "odbc_pwd",
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:dw.database.windows.net,1433;"
        "Database=dw;Uid=etl;Pwd={s};Encrypt=yes;",
        _r(18),
    ),
    _case(
        "odbc_braced_pwd_with_semicolon",
        "DRIVER={PostgreSQL Unicode};SERVER=db;UID=etl;PWD={{s}};",
        _r(6) + ";" + _r(8),
    ),
    _case("airflow_connection_uri_env", "AIRFLOW_CONN_WAREHOUSE=postgres://etl:{s}@db.internal:5432/analytics", _r(18)),
    _case(
        "airflow_snowflake_uri_with_empty_host",
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT='snowflake://loader:{s}@/analytics/raw?account=ab12345&warehouse=wh'",
        _r(18),
    ),
    _case(
        "airflow_connection_extra_json_in_json_string",
        '{"conn_id": "warehouse", "extra": "{\\"role\\": \\"transformer\\", \\"password\\": \\"{s}\\"}"}',
        _r(18),
    ),
    # ---- Snowflake connector kwargs -----------------------------------------------------------------
    _case(
        "snowflake_connector_password_kwarg",
        "snowflake.connector.connect(user='LOADER', password='{s}', account='ab12345.eu-central-1')",
        _password(),
    ),
    _case(
        "snowflake_private_key_passphrase", "connect(user=LOADER, private_key_passphrase={s}, role=TRANSFORMER)", _r(24)
    ),
    # ---- HTTP headers -------------------------------------------------------------------------------
    _case("authorization_bearer_opaque", "Authorization: Bearer {s}", _r(40, BASE64URL)),
    _case("authorization_basic", "> Authorization: Basic {s}", "ZXRsOlNuMHdmbGFrZSFQYXNz"),
    _case("authorization_token_scheme", "Authorization: token {s}", _r(40, HEX)),
    _case("x_api_key_header", "X-Api-Key: {s}", _r(32)),
    _case(
        "authorization_in_requests_headers_repr",
        "headers={'Accept': 'application/json', 'Authorization': 'Bearer {s}'}",
        _r(48, BASE64URL),
    ),
    _case(
        "bearer_token_outside_a_header", "curl https://airflow.internal/api/v2/dags -H Bearer {s}", _r(40, BASE64URL)
    ),
    _case("flower_basic_auth_env", "FLOWER_BASIC_AUTH=ops:{s}", _password()),
    _case("flower_basic_auth_flag", "celery flower --basic-auth=ops:{s},admin:" + _password(), _password()),
    # ---- credential files ---------------------------------------------------------------------------
    _case("netrc_one_line", "machine airflow.internal login etl password {s}", _password()),
    _case(
        "netrc_multi_line",
        "machine api.heroku.com\n  login ops@example.com\n  password {s}\n",
        "01234567-89ab-" + _r(4, HEX) + "-" + _r(4, HEX) + "-" + _r(12, HEX),
    ),
    _case("pgpass_line", "db.internal:5432:analytics:etl:{s}", _password()),
    _case("pgpass_line_in_a_log", "wrote ~/.pgpass: *:*:*:replicator:{s} (mode 0600)", _password()),
    # ---- JSON, reprs, env, CLI ----------------------------------------------------------------------
    _case(
        "json_password_with_spaces_and_escaped_quote",
        '{"user": "etl", "password": "{s}", "host": "db"}',
        'correct horse \\"battery\\" staple; 9',
    ),
    _case("json_password_cut_off_by_truncation", '{"user": "etl", "password": "{s}', _password()),
    _case("json_client_secret", '{"client_id": "airflow", "client_secret": "{s}"}', _r(40, BASE64URL)),
    _case("python_repr_password", "connect kwargs: {'user': 'etl', 'password': '{s}', 'port': 5432}", _password()),
    _case("env_db_pass", "DB_PASS={s}", _password()),
    _case("env_pgpassword", "PGPASSWORD={s} psql -h db.internal -U etl analytics", _password()),
    _case("env_snowflake_password", "SNOWFLAKE_PASSWORD={s}", _password()),
    _case("env_export_api_key", "export API_KEY={s}", _r(32)),
    _case("cli_password_space", "dbt debug --password {s} --target prod", _password()),
    _case("cli_password_equals", "snowsql --password={s} -a ab12345", _password()),
    _case("mysql_glued_p_flag", "mysql -h mysql.internal -u etl -p{s} shop", _password()),
    _case("sshpass_p", "sshpass -p {s} ssh etl@bastion.internal", _password()),
    _case("kubernetes_secret_yaml", "data:\n  password: {s}\n  username: ZXRs", _r(24, BASE64) + "=="),
    # ---- SQL ----------------------------------------------------------------------------------------
    _case("sql_alter_user_with_password", "ALTER USER etl WITH PASSWORD '{s}';", _password()),
    _case("sql_password_with_doubled_quote", "ALTER ROLE etl ENCRYPTED PASSWORD '{s}'", "it''s-" + _r(12)),
    _case("sql_identified_by", "CREATE USER 'etl'@'%' IDENTIFIED BY '{s}';", _password()),
    _case(
        "snowflake_create_user_password", "CREATE USER loader PASSWORD = '{s}' DEFAULT_ROLE = transformer;", _password()
    ),
    _case(
        "postgres_query_text_doubled_quotes",
        "INSERT INTO audit.events (payload) VALUES ('{''user'': ''etl'', ''password'': ''{s}''}')",
        _password(),
    ),
    # ---- URL query tokens ---------------------------------------------------------------------------
    _case("url_token_param", "GET https://airflow.internal/api/v2/dags?token={s}&limit=50 -> 401", _r(32)),
    _case("url_access_token_param", "https://graph.facebook.com/v19.0/me?fields=id&access_token={s}", "EAAB" + _r(180)),
    _case("url_api_key_param", "https://api.openweathermap.org/data/2.5/weather?q=Berlin&api_key={s}", _r(32, HEX)),
]

LOOKALIKE_CASES: list[tuple[str, str]] = [
    ("airflow_task_failed", "[2026-11-23T03:00:12.345+0000] {taskinstance.py:1234} ERROR - Task failed with exception"),
    (
        "airflow_using_connection",
        "[2026-11-23T03:00:01.002+0000] {base.py:84} INFO - Using connection ID 'warehouse' for task execution.",
    ),
    ("dbt_model_error", "12:00:01  1 of 5 ERROR creating sql table model analytics.fct_orders ... [ERROR in 0.12s]"),
    ("dbt_database_error", "Database Error in model fct_orders (models/marts/fct_orders.sql)"),
    ("dbt_run_summary", "12:00:03  Done. PASS=4 WARN=0 ERROR=1 SKIP=0 TOTAL=5"),
    ("dbt_test_failure", "Failure in test not_null_orders_id (models/marts/schema.yml)"),
    ("dbt_unique_id_with_hash", "test.shop.not_null_orders_id.5fb22c2a7a"),
    ("dbt_invocation_id", "invocation_id: 8d5e0f6a-3b2c-4d1e-9f8a-7b6c5d4e3f2a"),
    ("git_sha", "HEAD is now at 3f9c2b7e1a4d5c6b8e0f1a2b3c4d5e6f7a8b9c0d dbt: fix fct_orders grain"),
    ("sha256_digest", "image apache/airflow@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("uuid", "request_id=4f1c2a9e-8b3d-4e6f-9a0b-1c2d3e4f5a6b"),
    ("snowflake_query_id", "Query ID: 01b2c3d4-0000-1234-0000-0004a5b6c7d8"),
    ("postgres_queryid", "queryid=-4839217744823457123 calls=1842 mean_exec_time=812.4"),
    (
        "celery_task_id",
        "[2026-11-23 03:00:12,345: INFO/ForkPoolWorker-1] Task incident.triage"
        "[5e7c1b2a-9d3f-4a6e-8b0c-2f1e3d4c5b6a] succeeded in 2.31s: None",
    ),
    ("s3_path", "s3://shop-raw/orders/dt=2026-11-23/part-00000-8c1f.snappy.parquet"),
    ("url_without_credentials", "https://example.com/path?page=2&limit=50"),
    ("url_with_port_and_email_in_path", "GET https://api.example.com:8443/v1/users/maria@example.com 404"),
    ("redis_url_without_password", "rediss://redis.internal:6380/0?ssl_cert_reqs=required"),
    ("password_reset_requested_column", "UPDATE users SET password_reset_requested = true WHERE id = 42"),
    ("token_count_column", "SELECT model, sum(token_count) AS token_count FROM llm_usage GROUP BY 1; token_count=512"),
    ("llm_token_usage", "usage: prompt_tokens=812 completion_tokens=143 total_tokens=955 max_tokens=1024"),
    (
        "token_type_and_uri",
        '{"token_type": "Bearer", "expires_in": 3599, "token_uri": "https://oauth2.googleapis.com/token"}',
    ),
    ("tokenizer_setting", "tokenizer=cl100k_base"),
    (
        "psycopg_password_authentication_failed",
        'psycopg2.OperationalError: connection to server at "db.internal" (10.0.3.17), port 5432 failed: '
        'FATAL:  password authentication failed for user "etl"',
    ),
    ("password_authentication_failed_capitalised", 'Password authentication failed for user "etl"'),
    ("password_hash_column_missing", 'psycopg2.errors.UndefinedColumn: column "password_hash" does not exist'),
    # Decided: a flag naming the FILE a secret is in (--password-file, --token-file) keeps its path. The
    # path is not the secret, and which file was read is what the reader needs to diagnose the failure.
    ("password_file_flag", "loader --password-file /etc/secret/path --target prod"),
    ("secret_santa_table", 'relation "analytics.secret_santa" does not exist'),
    ("secret_name_not_secret", "SecretsManagerBackend: secret_name=airflow/connections/warehouse not found"),
    ("shared_access_key_name", "SharedAccessKeyName=RootManageSharedAccessKey"),
    ("password_none", "snowflake.connector: password=None, authenticator=externalbrowser"),
    ("base64_of_short_words", "payload=aGVsbG8gd29ybGQ= id=ZXRs"),
    ("airflow_scheduled_run_id", "run_id=scheduled__2026-11-23T03:00:00+00:00"),
    ("airflow_manual_run_id", "manual__2026-11-30T15:57:03.123456+00:00"),
    (
        "airflow_log_path",
        "/opt/airflow/logs/dag_id=daily_orders/run_id=scheduled__2026-11-23T03:00:00+00:00/"
        "task_id=dbt_run/attempt=2.log",
    ),
    ("iso_timestamp", "2026-11-23T03:00:12.345678+00:00"),
    # these three were taken for .pgpass lines (host:port:db:user:password) until the user field had to
    # hold a letter; they come from the recorded Airflow 3 logs and Snowflake query history fixtures
    ("time_range_with_colons", "its timestamps (Airflow's and dbt's) are 03:01:12–03:02:07 UTC"),
    (
        "airflow3_json_log_line",
        '{"timestamp":"2026-11-23T11:05:42.198037Z","level":"info","event":"DAG bundles '
        'loaded: dags-folder","run_id":"manual__2026-11-23T11:05:40.055924+00:00","map_index":-1,'
        '"ti_id":"01a20815-4038-7ad8-a2c5-2dbff4986957"}',
    ),
    (
        "snowflake_query_tag_json_in_json",
        '"QUERY_TAG": "{\\"app\\":\\"airflow\\",\\"run_id\\":'
        '\\"scheduled__2026-11-23T03:00:00+00:00\\",\\"try_number\\":1}"',
    ),
    ("ip_port_pair", "Connection refused: 10.0.3.17:5432"),
    ("ipv6_host_port", "could not connect to [2001:db8::8a2e:370:7334]:5432"),
    ("psql_port_flag", "psql -h db.internal -p 5432 -U etl analytics"),
    ("shell_working_directory", "PWD=/opt/airflow OLDPWD=/home/airflow"),
    ("bearer_in_prose", "the API expects the Bearer scheme; send a Bearer token in the Authorization header"),
    ("basic_in_prose", "Basic auth is disabled for this endpoint"),
    ("aws_arn", "arn:aws:iam::123456789012:role/airflow-worker"),
    (
        "snowflake_object_error",
        "002003 (42S02): SQL compilation error: Object 'ANALYTICS.MARTS.FCT_ORDERS' does not exist or not authorized.",
    ),
    ("python_traceback_line", 'File "/opt/airflow/dags/daily_orders.py", line 42, in _run_dbt'),
    # (a certificate's PEM body is NOT kept: its lines look exactly like a private key's once a log is
    # redacted line by line, so they are masked on purpose; see tests/shared/test_redact.py)
    (
        "ssh_public_key",
        "authorized key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl etl@bastion",
    ),
    ("snowflake_rsa_public_key_fingerprint", "RSA_PUBLIC_KEY_FP = SHA256:nvnONUsfiuycCLMXIEWG4Scn2Fdi/AbP8nPrZAzPFvs="),
    ("already_redacted", "postgresql://etl:[REDACTED]@db:5432/x password=[REDACTED] Authorization: Bearer [REDACTED]"),
    ("email_owner", "owner maria@example.com"),
]
