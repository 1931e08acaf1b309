"""The error codes the edges send in ``error`` frames (docs/protocol.md, "Errors", lists them for users).

A client branches on an error's ``code``, never on its message, so each code is spelled once: the edges'
own codes here, the engine's in :mod:`switchboard.actors.errors`. An edge that answers with one of the
engine's codes itself (a visitor naming a conversation not theirs is refused at the edge, before the
engine could) takes it from here too, re-exported, so both sides say the same thing with the same name.
"""

from __future__ import annotations

from switchboard.actors.errors import CONVERSATION_ENDED, NOT_YOUR_CONVERSATION, UNKNOWN_CONVERSATION, UNKNOWN_GROUP

__all__ = ["CODES", "FRAME_TOO_LARGE", "INVALID_JSON", "INVALID_FRAME", "UNKNOWN_TYPE", "HELLO_TIMEOUT",
           "HELLO_REQUIRED", "UNSUPPORTED_VERSION", "RATE_LIMITED", "NO_CONVERSATION", "EMAIL_REQUIRED",
           "INVALID_EMAIL", "NOT_CLOSED", "STORE_UNAVAILABLE", "INTERNAL_ERROR", "TOKEN_INVALID", "TOKEN_EXPIRED",
           "SESSION_ENDED", "NOT_YOUR_CONVERSATION", "CONVERSATION_ENDED", "UNKNOWN_CONVERSATION",
           "LOGIN_THROTTLED", "LOGINS_BUSY", "TOO_MANY_CONVERSATIONS", "TOO_MANY_WAITING", "TOO_MANY_SOCKETS",
           "UNAVAILABLE", "SETUP_CODE_WRONG", "SETUP_DONE", "ACCOUNT_DEACTIVATED", "LINK_INVALID", "LAST_ADMIN",
           "GROUP_BUSY", "ORIGIN_NOT_ALLOWED", "FORBIDDEN_ACTION", "TOO_MANY_WATCHED", "IDENTITY_INVALID",
           "UNKNOWN_GROUP"]

# the parser's (switchboard.edges.protocol)
FRAME_TOO_LARGE = "frame_too_large"
INVALID_JSON = "invalid_json"
INVALID_FRAME = "invalid_frame"
UNKNOWN_TYPE = "unknown_type"
# the hello's
HELLO_TIMEOUT = "hello_timeout"
HELLO_REQUIRED = "hello_required"
UNSUPPORTED_VERSION = "unsupported_version"
# a socket's frames
RATE_LIMITED = "rate_limited"
NO_CONVERSATION = "no_conversation"
EMAIL_REQUIRED = "email_required"
INVALID_EMAIL = "invalid_email"
NOT_CLOSED = "not_closed"
STORE_UNAVAILABLE = "store_unavailable"
INTERNAL_ERROR = "internal_error"
# who is calling (switchboard.edges.auth)
TOKEN_INVALID = "token_invalid"
TOKEN_EXPIRED = "token_expired"
SESSION_ENDED = "session_ended"
# abuse limits (issue 17, part C): logins (REST) and anonymous visitors per client address
LOGIN_THROTTLED = "login_throttled"
LOGINS_BUSY = "logins_busy"
TOO_MANY_CONVERSATIONS = "too_many_conversations"
TOO_MANY_WAITING = "too_many_waiting"
# connection limits (issue 17, part B: switchboard/edges/limits.py)
TOO_MANY_SOCKETS = "too_many_sockets"
# a part of the server is down (issue 17, part A: switchboard/edges/health.py): REST 503, sockets close 4503
UNAVAILABLE = "unavailable"
# accounts, roles and the site (issue 18: docs/accounts.md, docs/site.md)
SETUP_CODE_WRONG = "setup_code_wrong"
SETUP_DONE = "setup_done"
ACCOUNT_DEACTIVATED = "account_deactivated"
LINK_INVALID = "link_invalid"
LAST_ADMIN = "last_admin"
GROUP_BUSY = "group_busy"
ORIGIN_NOT_ALLOWED = "origin_not_allowed"
FORBIDDEN_ACTION = "forbidden"  # a socket action the user's roles or scope do not allow (REST: 403 forbidden)
# the live view's watched conversations (switchboard/edges/watch.py)
TOO_MANY_WATCHED = "too_many_watched"
# routing and identity (issue 20: docs/identity.md)
IDENTITY_INVALID = "identity_invalid"

CODES: dict[str, str] = {
    FRAME_TOO_LARGE: "the frame is larger than max_frame_bytes; the socket closes with 1009",
    INVALID_JSON: "the frame is not JSON, or not a JSON object",
    INVALID_FRAME: "a field is missing, of the wrong type, too long or blank, or the frame's values do not fit",
    UNKNOWN_TYPE: "no frame of that type exists for this role",
    HELLO_TIMEOUT: "no hello in time; the socket closes with 1008",
    HELLO_REQUIRED: "the first frame was not a hello; the socket closes with 1008",
    UNSUPPORTED_VERSION: "the hello's v is not the server's protocol version; the socket closes with 1008",
    RATE_LIMITED: "too many frames: this one was dropped",
    NO_CONVERSATION: "the frame needs an open conversation and there is none",
    EMAIL_REQUIRED: "request_human without a known email while the server requires one",
    INVALID_EMAIL: "that does not look like an email address",
    NOT_CLOSED: "a conversation is rated once it is closed or abandoned",
    STORE_UNAVAILABLE: "the message was not stored and no ack follows: re-send it with the same client_id",
    INTERNAL_ERROR: "the server failed while handling this frame; the connection goes on",
    TOKEN_INVALID: "a bad signature, garbage, the wrong token kind, or a user that no longer exists",
    TOKEN_EXPIRED: "the token has expired: log in again",
    SESSION_ENDED: "the session was logged out, or the password was changed",
    NOT_YOUR_CONVERSATION: "not a conversation of yours (the engine's code, answered at the edge too)",
    CONVERSATION_ENDED: "your conversation is no longer open (the engine's code, answered at the edge too)",
    LOGIN_THROTTLED: "too many failed logins for this account or address: 429, wait Retry-After seconds",
    LOGINS_BUSY: "too many logins waiting for a password check: 503, retry after Retry-After seconds",
    TOO_MANY_CONVERSATIONS: "too many open conversations from your network address: none was opened",
    TOO_MANY_WAITING: "too many visitors from your network address wait for a person: this one was not queued",
    TOO_MANY_SOCKETS: "too many websockets from your network address: the socket closes with 4029; retry later",
    UNAVAILABLE: "a part of the server (Redis, the store) is down: REST answers 503, a socket closes with 4503; "
                 "retry later",
    SETUP_CODE_WRONG: "first-run setup: the setup code is wrong (serve printed it at start): 403",
    SETUP_DONE: "first-run setup: an admin exists already; log in instead: 409",
    ACCOUNT_DEACTIVATED: "the password is right but an admin deactivated the account: 403",
    LINK_INVALID: "an emailed link that is malformed, expired, used already or voided by a later change: 400",
    LAST_ADMIN: "the change would leave no active admin: 409",
    GROUP_BUSY: "a group with open or waiting conversations is not deleted unless they move (move_to): 409",
    ORIGIN_NOT_ALLOWED: "the page's site is not among the widget's allowed sites; the socket closes with 1008",
    FORBIDDEN_ACTION: "your roles or your groups do not allow this action (REST: 403)",
    TOO_MANY_WATCHED: "a socket watches at most 5 conversations at once: stop one (watch, on: false) first",
    IDENTITY_INVALID: "an identify frame whose signature or fields are wrong: the visitor stays anonymous",
    UNKNOWN_GROUP: "request_human named a group that does not exist or that the widget does not offer "
                   "(the engine's code, answered at the edge too)",
}
