#!/usr/bin/env python3
"""Deterministic DEBUG-level Open WebUI log for the `matching` benchmark.

Builds ~22 MB (~100k lines) of what `GLOBAL_LOG_LEVEL=DEBUG` Open WebUI 0.12 writes to its
container log (stdout and stderr mixed, as a followed file sees them):

* the real INFO capture next to this script (openwebui-0.12.4-info.log): its
  start-up block at the top and again after a "restart" half-way, and its
  runtime records replayed over and over with their timestamps moved forward;
* DEBUG noise shaped like docs/openwebui-logs.md §1.2-1.8, §2.x "DEBUG adds"
  and §4: aiosqlite `executing` / `operation ... completed` lines, sqlalchemy
  pool check-out/return lines, httpcore traces, python-multipart callbacks,
  `form_data: {...}` and `generate_chat_completion: {...}` dict reprs, task
  lines with user e-mails, `/api/models returned filtered models ...`;
* uvicorn access lines: socket.io polling, static assets, API GETs;
* occasional multi-line tracebacks (loguru, and bare "Exception in ASGI
  application" on stderr);
* event lines the built-in rules match (completions, uploads, sign-ups,
  deletes, model changes, ERROR records): about 0.5 % of the records.

Only the standard library; a fixed seed, so every run writes the same bytes.

    python3 benches/data/make_debug_log.py [--out PATH] [--mb 22] [--seed N]
"""

import argparse
import datetime
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_LOG = os.path.join(HERE, "openwebui-0.12.4-info.log")
DEFAULT_OUT = os.path.join(HERE, "openwebui-debug.log")

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}(?= \| )")
ACCESS_CALLER = "uvicorn.protocols.http.httptools_impl:send:482"

WORDS = (
    "the report quarter revenue summary please explain why how what table "
    "customer support ticket policy draft email meeting notes translate into "
    "french german code python rust function error stack trace database index "
    "query slow fast compare list steps install docker compose volume network "
    "proxy nginx certificate renew budget forecast risk plan roadmap feature "
    "bug release version upgrade migrate backup restore user admin role group "
    "permission document upload pdf spreadsheet column chart average median "
    "write short poem about autumn coffee mountains ocean travel itinerary "
    "Zürich café naïve résumé 日本語 emoji 🙂 ✅"
).split()

MODELS = ["llama3.1:8b", "qwen2.5:7b", "gpt-4o-mini", "mistral-nemo:12b", "support-bot"]
USERS = [
    ("Alice", "alice@example.com"),
    ("Bob", "bob@example.org"),
    ("Carol", "carol@corp.example"),
    ("Dave", "dave@example.net"),
    ("admin", "admin@example.com"),
]
CLIENTS = ["203.0.113.7:0", "198.51.100.23:0", "192.0.2.44:0", "172.18.0.1:{port}", "127.0.0.1:{port}"]

ASSETS = [
    "/_app/immutable/entry/start.{h}.js",
    "/_app/immutable/entry/app.{h}.js",
    "/_app/immutable/chunks/{h}.js",
    "/_app/immutable/chunks/{h}.js",
    "/_app/immutable/chunks/{h}.js",
    "/_app/immutable/nodes/{n}.{h}.js",
    "/_app/immutable/assets/{n}.{h}.css",
    "/static/favicon.png",
    "/static/favicon-dark.png",
    "/static/splash.png",
    "/static/custom.css",
    "/static/loader.js",
    "/manifest.json",
    "/_app/version.json",
    "/assets/fonts/InstrumentSerif-Regular.woff2",
    "/assets/fonts/Inter-Variable.ttf",
]
API_GETS = [
    "/api/config",
    "/api/models",
    "/api/v1/auths/",
    "/api/v1/users/user/settings",
    "/api/v1/chats/?page=1",
    "/api/v1/chats/?page=2",
    "/api/v1/chats/pinned",
    "/api/v1/chats/all/tags",
    "/api/v1/folders/",
    "/api/v1/channels/",
    "/api/v1/tools/",
    "/api/v1/functions/",
    "/api/v1/prompts/",
    "/api/v1/knowledge/",
    "/api/v1/notes/",
    "/api/changelog",
    "/api/version/updates",
    "/api/usage",
    "/api/v1/chats/{u}",
    "/api/v1/users/{u}/profile/image",
    "/api/v1/models/model/profile/image?id={m}",
    "/ollama/api/version",
]
TABLES = {
    "user": "user.id, user.email, user.role, user.name, user.last_active_at",
    "chat": "chat.id, chat.user_id, chat.title, chat.updated_at, chat.folder_id",
    "config": "config.key, config.value",
    "model": "model.id, model.base_model_id, model.name, model.is_active",
    "file": "file.id, file.user_id, file.filename, file.meta",
    "auth": "auth.id, auth.email, auth.active",
    "folder": "folder.id, folder.parent_id, folder.name",
}


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.t = datetime.datetime(2026, 11, 27, 9, 0, 0)
        self.out = []
        self.size = 0
        self.sids = [self.token(20) for _ in USERS]
        self.conn = ["0x7f%010x" % self.r.getrandbits(40) for _ in range(6)]
        self.chats = [self.uuid() for _ in range(40)]

    # ---- primitives -------------------------------------------------------

    def emit(self, line):
        self.out.append(line)
        self.size += len(line.encode("utf-8")) + 1

    def tick(self, lo=0, hi=40):
        self.t += datetime.timedelta(milliseconds=self.r.randint(lo, hi))

    def ts(self):
        return self.t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (self.t.microsecond // 1000)

    def uuid(self):
        h = "%032x" % self.r.getrandbits(128)
        return "%s-%s-4%s-%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[self.r.randint(0, 3)] + h[17:20], h[20:])

    def token(self, n):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def words(self, lo, hi):
        return " ".join(self.r.choice(WORDS) for _ in range(self.r.randint(lo, hi)))

    def log(self, level, caller, msg):
        self.tick(0, 6)
        self.emit("%s | %-8s | %s - %s" % (self.ts(), level, caller, msg))

    def client(self):
        c = self.r.choice(CLIENTS)
        return c.format(port=self.r.randint(32768, 60999))

    def access(self, method, path, status=200, client=None):
        self.tick(0, 12)
        self.emit(
            '%s | INFO     | %s - %s - "%s %s HTTP/1.1" %d'
            % (self.ts(), ACCESS_CALLER, client or self.client(), method, path, status)
        )

    # ---- DEBUG noise ------------------------------------------------------

    def sql(self):
        table = self.r.choice(list(TABLES))
        cols = TABLES[table]
        kind = self.r.random()
        if kind < 0.6:
            return "'SELECT %s \\nFROM %s \\nWHERE %s.id = ?', ('%s',)" % (cols, table, table, self.uuid())
        if kind < 0.8:
            return "'SELECT %s \\nFROM %s \\nWHERE %s.user_id = ? ORDER BY %s.updated_at DESC\\n LIMIT ? OFFSET ?', ('%s', 60, 0)" % (
                cols, table, table, table, self.uuid())
        if kind < 0.9:
            return "'UPDATE user SET last_active_at=?, updated_at=? WHERE user.id = ?', (%d, %d, '%s')" % (
                1795770000 + self.r.randint(0, 99999), 1795770000 + self.r.randint(0, 99999), self.uuid())
        return "'SELECT config.value \\nFROM config \\nWHERE config.key = ?', ('%s',)" % self.r.choice(
            ["ui.default_models", "rag.embedding_model", "task.title.enable", "ui.enable_signup", "audio.tts.engine"])

    def db_roundtrip(self):
        """One query as DEBUG shows it: pool check-out, aiosqlite ops, return."""
        conn = "<AdaptedConnection <Connection(Thread-%d, started daemon 1398%08d)>>" % (
            self.r.randint(2, 9), self.r.randint(0, 99999999))
        self.log("DEBUG", "sqlalchemy.pool.impl.AsyncAdaptedQueuePool:_do_get:178",
                 "Connection %s checked out from pool" % conn)
        cur = "<built-in method %s of sqlite3.Cursor object at %s>"
        ops = ["execute"]
        if self.r.random() < 0.8:
            ops.append(self.r.choice(("fetchall", "fetchone")))
        if self.r.random() < 0.5:
            ops.append("close")
        for op in ops:
            addr = self.r.choice(self.conn)
            if op == "execute":
                part = "functools.partial(%s, %s)" % (cur % (op, addr), self.sql())
            else:
                part = "functools.partial(%s)" % (cur % (op, addr))
            self.log("DEBUG", "aiosqlite.core:_connection_worker_thread:66", "executing %s" % part)
            self.log("DEBUG", "aiosqlite.core:_connection_worker_thread:68", "operation %s completed" % part)
        if self.r.random() < 0.3:
            part = "functools.partial(<built-in method commit of sqlite3.Connection object at %s>)" % self.r.choice(self.conn)
            self.log("DEBUG", "aiosqlite.core:_connection_worker_thread:66", "executing %s" % part)
            self.log("DEBUG", "aiosqlite.core:_connection_worker_thread:68", "operation %s completed" % part)
        self.log("DEBUG", "sqlalchemy.pool.base:_finalize_fairy:1012",
                 "Connection %s being returned to pool" % conn)
        self.log("DEBUG", "sqlalchemy.pool.base:_reset:1356",
                 "Connection %s rollback-on-return" % conn)

    def httpcore(self, host, port, path):
        c = "httpcore.connection:trace:47"
        h = "httpcore.http11:trace:47"
        if self.r.random() < 0.3:
            self.log("DEBUG", c, "connect_tcp.started host='%s' port=%d local_address=None timeout=300 socket_options=None" % (host, port))
            self.log("DEBUG", c, "connect_tcp.complete return_value=<httpcore._backends.anyio.AnyIOStream object at 0x7f%010x>" % self.r.getrandbits(40))
        for step in ("send_request_headers", "send_request_body", "receive_response_headers"):
            self.log("DEBUG", h, "%s.started request=<Request [b'POST']>" % step)
            if step == "receive_response_headers":
                self.log("DEBUG", h, "%s.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'Content-Type', b'application/json'), (b'Date', b'Fri, 27 Nov 2026 %s GMT'), (b'Transfer-Encoding', b'chunked')])" % (step, self.t.strftime("%H:%M:%S")))
            else:
                self.log("DEBUG", h, "%s.complete return_value=None" % step)
        self.log("INFO", "httpx._client:_send_single_request:1740",
                 'HTTP Request: POST http://%s:%d%s "HTTP/1.1 200 OK"' % (host, port, path))
        self.log("DEBUG", h, "receive_response_body.started request=<Request [b'POST']>")
        self.log("DEBUG", h, "receive_response_body.complete return_value=None")
        self.log("DEBUG", h, "response_closed.started")
        self.log("DEBUG", h, "response_closed.complete return_value=None")

    def poll(self, n):
        for _ in range(n):
            u = self.r.randrange(len(USERS))
            q = "/ws/socket.io/?EIO=4&transport=polling&t=Pq%s" % self.token(5)
            if self.r.random() < 0.15:
                self.access("GET", q, 200)
            else:
                meth = "POST" if self.r.random() < 0.4 else "GET"
                self.access(meth, q + "&sid=" + self.sids[u], 200)
            self.tick(50, 900)

    def page_load(self):
        self.access("GET", "/", 200)
        for _ in range(self.r.randint(12, 40)):
            a = self.r.choice(ASSETS).format(h="%s" % self.token(8), n=self.r.randint(0, 40))
            self.access("GET", a, self.r.choice((200, 200, 304)))
        self.access("GET", "/api/config", 200)
        self.api_get("/api/v1/auths/")
        self.models_list()
        self.poll(self.r.randint(2, 5))
        for p in ("/api/v1/users/user/settings", "/api/v1/chats/?page=1", "/api/v1/folders/",
                  "/api/v1/channels/", "/api/v1/chats/pinned", "/api/version/updates", "/api/changelog"):
            self.api_get(p)

    def api_get(self, path=None):
        if path is None:
            path = self.r.choice(API_GETS)
        path = path.format(u=self.r.choice(self.chats), m=self.r.choice(MODELS))
        for _ in range(self.r.randint(1, 2)):
            self.db_roundtrip()
        self.access("GET", path, self.r.choice((200,) * 30 + (304, 401, 404)))

    def models_list(self):
        self.log("INFO", "open_webui.routers.openai:get_all_models:716", "get_all_models()")
        if self.r.random() < 0.5:
            self.log("INFO", "open_webui.routers.ollama:get_all_models:349", "get_all_models()")
        self.db_roundtrip()
        ids = ", ".join('"%s"' % m for m in MODELS + ["arena-model", "text-embedding-3-small"])
        self.log("DEBUG", "open_webui.main:get_models:1493",
                 "/api/models returned filtered models accessible to the user: [%s]" % ids)
        self.access("GET", "/api/models", 200)

    def messages_repr(self, turns):
        msgs = [{"role": "system", "content": "You are a helpful assistant. Today is 2026-11-27."}]
        for i in range(turns):
            msgs.append({"role": "user", "content": self.words(4, 40)})
            if i < turns - 1:
                msgs.append({"role": "assistant", "content": self.words(15, 80)})
        return repr(msgs)

    def form_data(self, user, chat_id, model, turns):
        meta = {
            "user_id": user[2],
            "chat_id": chat_id,
            "message_id": self.uuid(),
            "parent_message_id": self.uuid(),
            "session_id": self.sids[user[3]],
            "filter_ids": [],
            "tool_ids": None,
            "tool_servers": None,
            "files": None,
            "features": {"voice": False, "image_generation": False, "code_interpreter": False, "web_search": False, "memory": False},
            "variables": {"{{USER_NAME}}": user[0], "{{USER_LOCATION}}": "Unknown", "{{CURRENT_DATETIME}}": self.ts()[:19],
                          "{{CURRENT_DATE}}": self.ts()[:10], "{{CURRENT_TIME}}": self.ts()[11:19], "{{CURRENT_WEEKDAY}}": "Friday",
                          "{{CURRENT_TIMEZONE}}": "Etc/UTC", "{{USER_LANGUAGE}}": "en-US"},
            "direct": False,
            "function_calling": "default",
        }
        return "{'stream': True, 'model': %r, 'messages': %s, 'params': {}, 'tool_servers': [], 'features': %r, 'variables': %r, 'session_id': %r, 'chat_id': %r, 'id': %r, 'parent_id': %r, 'background_tasks': {'title_generation': True, 'tags_generation': True, 'follow_up_generation': True}, 'metadata': %r}" % (
            model, self.messages_repr(turns), meta["features"], meta["variables"], meta["session_id"],
            chat_id, meta["message_id"], meta["parent_message_id"], meta)

    def chat(self):
        u = self.r.randrange(len(USERS))
        user = (USERS[u][0], USERS[u][1], "b%07x-2f7a-4c9e-8d1e-5a7b3c2d1e0f" % u, u)
        model = self.r.choice(MODELS)
        new = self.r.random() < 0.15
        chat_id = self.uuid() if new else self.r.choice(self.chats)
        if new:
            self.chats[self.r.randrange(len(self.chats))] = chat_id
            self.db_roundtrip()
            self.access("POST", "/api/v1/chats/new", 200)  # rule: chat.created
        self.db_roundtrip()
        self.access("POST", "/api/v1/chats/%s" % chat_id, 200)
        self.db_roundtrip()
        turns = 1 if new else self.r.randint(1, 4)
        fd = self.form_data(user, chat_id, model, turns)
        self.log("DEBUG", "open_webui.utils.middleware:process_chat_payload:2290", "form_data: " + fd)
        self.db_roundtrip()
        self.log("DEBUG", "open_webui.utils.chat:generate_chat_completion:171", "generate_chat_completion: " + fd)
        self.access("POST", "/api/chat/completions", 200)  # rule: message.created
        self.httpcore("127.0.0.1", 11434, "/v1/chat/completions")
        for _ in range(self.r.randint(0, 3)):
            self.log("DEBUG", "open_webui.utils.middleware:stream_body_handler:3105",
                     "content='%s'" % self.words(2, 30).replace("'", ""))
        self.poll(self.r.randint(3, 10))
        self.db_roundtrip()
        self.access("POST", "/api/v1/chats/%s" % chat_id, 200)
        for task in ("title", "chat tags", "follow ups"):
            if task == "title" and not new:
                continue
            self.log("DEBUG", "open_webui.routers.tasks:generate_%s:212" % task.replace(" ", "_"),
                     "generating %s using model %s for user %s " % (task, model, user[1]))
            self.httpcore("127.0.0.1", 11434, "/v1/chat/completions")
        self.api_get("/api/v1/chats/?page=1")

    def upload(self):
        name = self.r.choice(["Q3-report.pdf", "notes.txt", "handbook.docx", "data.csv", "résumé.pdf"])
        fid = self.uuid()
        size = self.r.randint(4, 400) * 1024
        self.log("DEBUG", "multipart.multipart:callback:625", "Calling on_part_begin with no data")
        pos = 0
        for _ in range(self.r.randint(2, 4)):
            self.log("DEBUG", "multipart.multipart:callback:621", "Calling on_header_field with data[%d:%d]" % (pos, pos + 19))
            self.log("DEBUG", "multipart.multipart:callback:621", "Calling on_header_value with data[%d:%d]" % (pos + 21, pos + 70))
            self.log("DEBUG", "multipart.multipart:callback:625", "Calling on_header_end with no data")
            pos += 72
        self.log("DEBUG", "multipart.multipart:callback:625", "Calling on_headers_finished with no data")
        while pos < size:
            step = min(65536, size - pos)
            self.log("DEBUG", "multipart.multipart:callback:621", "Calling on_part_data with data[%d:%d]" % (pos % 65536, pos % 65536 + step))
            pos += step
        self.log("DEBUG", "multipart.multipart:callback:625", "Calling on_part_end with no data")
        self.log("DEBUG", "multipart.multipart:callback:625", "Calling on_end with no data")
        self.log("INFO", "open_webui.routers.files:upload_file_handler:330", "file.content_type: %s True" % (
            "application/pdf" if name.endswith(".pdf") else "text/plain"))
        self.db_roundtrip()
        self.access("POST", "/api/v1/files/", 200)  # rule: file.uploaded
        self.access("GET", "/api/v1/files/%s/process/status?stream=true" % fid, 200)
        self.log("DEBUG", "open_webui.routers.retrieval:process_file:1660", "text_content: " + self.words(60, 400))
        self.log("DEBUG", "open_webui.routers.retrieval:save_docs_to_vector_db:1380",
                 "save_docs_to_vector_db: document %s file-%s" % (name, fid))
        self.log("INFO", "open_webui.routers.retrieval:save_docs_to_vector_db:1402", "Using markdown header text splitter")
        self.log("INFO", "open_webui.routers.retrieval:save_docs_to_vector_db:1491", "generating embeddings for file-%s" % fid)
        for b in range(self.r.randint(1, 6)):
            self.log("DEBUG", "open_webui.retrieval.utils:async_embedding_function:1101",
                     "generate_multiple_embeddings:batch %d size=32 model=sentence-transformers/all-MiniLM-L6-v2" % b)
        self.log("INFO", "open_webui.routers.retrieval:save_docs_to_vector_db:1563", "adding to collection file-%s" % fid)
        self.log("INFO", "open_webui.routers.retrieval:save_docs_to_vector_db:1580",
                 "added %d items to collection file-%s" % (self.r.randint(2, 60), fid))
        self.db_roundtrip()

    def admin(self):
        kind = self.r.choice(["signup", "add", "update", "del_user", "del_chat", "del_file",
                              "model", "signin_fail", "upload_400", "toggle"])
        uid = self.uuid()
        if kind in ("signup", "add"):
            self.log("INFO", "open_webui.models.auths:insert_new_auth:300", "insert_new_auth")
            self.db_roundtrip()
            self.emit("/usr/local/lib/python3.11/site-packages/jwt/api_jwt.py:147: InsecureKeyLengthWarning: The HMAC key is 7 bytes long, which is below the minimum recommended length of 32 bytes for SHA256. See RFC 7518 Section 3.2.")
            self.emit("  return self._jws.encode(")
            self.access("POST", "/api/v1/auths/%s" % kind, 200)
        elif kind == "update":
            self.db_roundtrip()
            self.access("POST", "/api/v1/users/%s/update" % uid, 200)
        elif kind == "del_user":
            self.log("INFO", "open_webui.socket.main:disconnect_user_sessions:334", "Disconnected 1 session(s) for user %s" % uid)
            self.access("DELETE", "/api/v1/users/%s" % uid, 200)
        elif kind == "del_chat":
            self.db_roundtrip()
            self.access("DELETE", "/api/v1/chats/%s" % self.r.choice(self.chats), 200)
        elif kind == "del_file":
            self.db_roundtrip()
            self.access("DELETE", "/api/v1/files/%s" % uid, 200)
        elif kind == "model":
            self.db_roundtrip()
            self.access("POST", "/api/v1/models/%s" % self.r.choice(["create", "model/update", "model/delete"]), 200)
        elif kind == "toggle":
            self.access("POST", "/api/v1/models/model/toggle?id=%s" % self.r.choice(MODELS).replace(":", "%3A"), 200)
        elif kind == "signin_fail":
            self.log("INFO", "open_webui.models.auths:authenticate_user:336", "authenticate_user: %s" % self.r.choice(USERS)[1])
            self.access("POST", "/api/v1/auths/signin", 400)
        else:
            self.access("POST", "/api/v1/files/", 400)

    def signin(self):
        self.log("INFO", "open_webui.models.auths:authenticate_user:336", "authenticate_user: %s" % self.r.choice(USERS)[1])
        self.db_roundtrip()
        self.emit("/usr/local/lib/python3.11/site-packages/jwt/api_jwt.py:368: InsecureKeyLengthWarning: The HMAC key is 7 bytes long, which is below the minimum recommended length of 32 bytes for SHA256. See RFC 7518 Section 3.2.")
        self.emit("  decoded = self.decode_complete(")
        self.access("POST", "/api/v1/auths/signin", 200)

    FRAMES = [
        ("/usr/local/lib/python3.11/site-packages/starlette/routing.py", 289, "handle", "await self.app(scope, receive, send)"),
        ("/usr/local/lib/python3.11/site-packages/fastapi/routing.py", 134, "app", "await wrap_app_handling_exceptions(app, request)(scope, receive, send)"),
        ("/usr/local/lib/python3.11/site-packages/starlette/_exception_handler.py", 42, "wrapped_app", "await app(scope, receive, sender)"),
        ("/usr/local/lib/python3.11/site-packages/fastapi/routing.py", 301, "run_endpoint_function", "return await dependant.call(**values)"),
        ("/usr/local/lib/python3.11/site-packages/open_webui/main.py", 1651, "chat_completion", "response = await chat_completion_handler(request, form_data, user)"),
        ("/usr/local/lib/python3.11/site-packages/open_webui/utils/chat.py", 262, "generate_chat_completion", "return await generate_openai_chat_completion("),
        ("/usr/local/lib/python3.11/site-packages/open_webui/routers/openai.py", 1011, "generate_chat_completion", "r = await session.request("),
        ("/usr/local/lib/python3.11/site-packages/aiohttp/client.py", 779, "_request", "resp = await handler(req)"),
        ("/usr/local/lib/python3.11/site-packages/aiohttp/connector.py", 642, "connect", "proto = await self._create_connection(req, traces, timeout)"),
        ("/usr/local/lib/python3.11/asyncio/tasks.py", 479, "wait_for", "return fut.result()"),
    ]

    def traceback(self):
        if self.r.random() < 0.3:
            # Unhandled: bare stderr block, then the 500 access line.
            self.emit("Exception in ASGI application")
            self.emit("Traceback (most recent call last):")
            for f, ln, fn, code in self.r.sample(self.FRAMES, self.r.randint(4, len(self.FRAMES))):
                self.emit('  File "%s", line %d, in %s' % (f, ln, fn))
                self.emit("    " + code)
                self.emit("    " + " " * self.r.randint(0, 8) + "^" * self.r.randint(8, 50))
            self.emit("RuntimeError: Event loop is closed")
            self.access("POST", "/api/chat/completions", 500)
            return
        msg = self.r.choice([
            "Connection error: Cannot connect to host ollama:11434 ssl:default [Name or service not known]",
            "Error processing chat payload: Rate limit reached for gpt-4o",
            "No embedding model is loaded. Set RAG_EMBEDDING_MODEL to a valid SentenceTransformer model name",
            "403, message='Forbidden', url='https://hooks.example.com/owui'",
        ])
        level = "ERROR" if self.r.random() < 0.8 else "WARNING"
        self.log(level, "open_webui.routers.openai:send_get_request:119", msg)
        self.emit("Traceback (most recent call last):")
        frames = self.r.sample(self.FRAMES, self.r.randint(3, len(self.FRAMES)))
        for i, (f, ln, fn, code) in enumerate(frames):
            mark = "> " if i == len(frames) - 2 else "  "
            self.emit('%sFile "%s", line %d, in %s' % (mark, f, ln, fn))
            self.emit("    " + code)
        self.emit("aiohttp.client_exceptions.ClientConnectorError: " + msg)

    # ---- the real capture -------------------------------------------------

    def retime(self, line):
        if TS_RE.match(line):
            self.tick(0, 30)
            return TS_RE.sub(self.ts(), line, count=1)
        return line


def split_records(lines):
    """Groups the capture's runtime lines into records (a timestamped header + continuations)."""
    recs = []
    for l in lines:
        if TS_RE.match(l) or l.startswith("/usr/") or not recs:
            recs.append([l])
        else:
            recs[-1].append(l)
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--mb", type=float, default=22.0, help="stop after this many MB (default 22)")
    ap.add_argument("--seed", type=int, default=20261127)
    args = ap.parse_args()

    with open(SEED_LOG, encoding="utf-8") as f:
        real = f.read().split("\n")
    if real and real[-1] == "":
        real.pop()
    first_loguru = next(i for i, l in enumerate(real) if TS_RE.match(l))
    startup = real[:first_loguru]
    runtime = split_records(real[first_loguru:])

    g = Gen(args.seed)
    target = int(args.mb * 1_000_000)
    for l in startup:
        g.emit(l)
    restarted = False
    real_i = 0
    activities = [
        (g.poll, 120), (g.api_get, 30), (g.page_load, 2.2), (g.chat, 6.5), (g.upload, 0.35),
        (g.admin, 0.6), (g.signin, 0.6), (g.traceback, 0.45), (None, 3.0),  # None: next real record
    ]
    funcs = [a for a, _ in activities]
    weights = [w for _, w in activities]
    while g.size < target:
        if not restarted and g.size > target // 2:
            restarted = True
            g.tick(5000, 20000)
            for l in startup:
                g.emit(l)
        f = g.r.choices(funcs, weights)[0]
        if f is None:
            for l in runtime[real_i % len(runtime)]:
                g.emit(g.retime(l))
            real_i += 1
        elif f == g.poll:
            g.poll(g.r.randint(1, 4))
        else:
            f()
        g.tick(0, 400)

    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(g.out))
        f.write("\n")
    os.replace(tmp, args.out)
    print("%s: %d lines, %d bytes" % (args.out, len(g.out), g.size), file=sys.stderr)


if __name__ == "__main__":
    main()
