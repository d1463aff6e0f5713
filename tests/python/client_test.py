"""The PyPI `servicestack` client with the DTOs a running sessiond serves at /types/python.

Run by tests/servicestack_host.rs (which starts `sessiond serve` on an event log of its own)
with the venv of scripts/setup-test-deps:
  SESSIOND_URL            base URL, e.g. http://127.0.0.1:8123
  SESSIOND_TOKEN          valid, sub U-1, roles ["User"]
  SESSIOND_ADMIN_TOKEN    valid, sub U-1, roles "Manager,Admin" (one comma-separated string)
  SESSIOND_NOROLE_TOKEN   valid, sub U-1, roles ["Manager"]
  SESSIOND_BAD_TOKEN      sub U-1, roles ["User"], signed with the wrong key
  SESSIOND_EXPECTED_IDS   U-1's active session ids, comma-separated, in order
Every check runs; the last line is `N passed, M failed`; the exit status is 1 if any failed.
"""

import importlib.util
import os
import sys
import tempfile
import traceback
import urllib.request

from servicestack import JsonServiceClient, WebServiceException

URL = os.environ["SESSIOND_URL"]
EXPECTED = os.environ["SESSIOND_EXPECTED_IDS"].split(",")
passed, failed = 0, 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}")
    except Exception:  # noqa: BLE001 - every failure is reported, then counted
        failed += 1
        print(f"FAIL {name}\n{traceback.format_exc()}")


def client(token):
    c = JsonServiceClient(URL)
    c.bearer_token = token
    return c


# "Add ServiceStack Reference": download the DTOs and import them as a module.
with urllib.request.urlopen(f"{URL}/types/python") as r:
    content_type = r.headers["Content-Type"]
    source = r.read().decode("utf-8")
dtos_dir = tempfile.TemporaryDirectory(prefix="sessiond-py-")
path = os.path.join(dtos_dir.name, "dtos.py")
with open(path, "w", encoding="utf-8") as f:
    f.write(source)
spec = importlib.util.spec_from_file_location("dtos", path)
dtos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dtos)


def header():
    assert content_type == "text/plain; charset=utf-8", content_type
    assert source.startswith('""" Options:\n'), source[:40]
    assert f"BaseUrl: {URL}\n" in source


def get():
    r = client(os.environ["SESSIOND_TOKEN"]).get(dtos.GetActiveSessions())
    assert isinstance(r, dtos.GetActiveSessionsResponse), type(r)
    assert [s.id for s in r.sessions] == EXPECTED, [s.id for s in r.sessions]
    s = r.sessions[0]
    assert isinstance(s, dtos.SessionInfo), type(s)
    assert isinstance(s.channel, dtos.FlowChannels), repr(s.channel)
    assert s.ended is False
    assert s.date_created.endswith("Z"), s.date_created


def send_posts_to_api():
    # The generated DTO has no IGet marker, so send() POSTs it to /api/GetActiveSessions.
    r = client(os.environ["SESSIOND_TOKEN"]).send(dtos.GetActiveSessions())
    assert [s.id for s in r.sessions] == EXPECTED


def post_my_sessions():
    r = client(os.environ["SESSIOND_TOKEN"]).post(dtos.GetMySessions())
    assert isinstance(r, dtos.GetMySessionsResponse), type(r)
    assert [s.id for s in r.sessions] == EXPECTED


def members_and_enums():
    r = client(os.environ["SESSIOND_TOKEN"]).get(dtos.GetActiveSessions())
    members = [m for s in r.sessions for m in s.members]
    assert members, "a member"
    assert all(isinstance(m.role, dtos.SessionMemberRoles) for m in members)
    assert any(m.application_data for m in members), [m.application_data for m in members]


def admin_passes_the_role_check():
    r = client(os.environ["SESSIOND_ADMIN_TOKEN"]).get(dtos.GetActiveSessions())
    assert [s.id for s in r.sessions] == EXPECTED


def error(token, status, code, message):
    try:
        client(token).get(dtos.GetActiveSessions())
    except WebServiceException as e:
        assert e.status_code == status, e.status_code
        assert e.response_status.error_code == code, e.response_status
        assert e.response_status.message == message, e.response_status
        return
    raise AssertionError("no error")


check("the header is on the first line", header)
check("get() returns the user's sessions as the generated types", get)
check("send() without IGet POSTs to /api", send_posts_to_api)
check("post() GetMySessions", post_my_sessions)
check("members, enums and application data", members_and_enums)
check("Admin (in a comma-separated roles claim) passes", admin_passes_the_role_check)
check(
    "a badly signed token is a 401 WebServiceException",
    lambda: error(os.environ["SESSIOND_BAD_TOKEN"], 401, "Unauthorized", "Token is invalid"),
)
check(
    "no User role is a 403 WebServiceException",
    lambda: error(os.environ["SESSIOND_NOROLE_TOKEN"], 403, "Forbidden", "Invalid Role"),
)

print(f"{passed} passed, {failed} failed")
dtos_dir.cleanup()
sys.exit(1 if failed else 0)
