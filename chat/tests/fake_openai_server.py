"""A local OpenAI-compatible server: POST /v1/chat/completions, streamed as the real API streams.

The fake model is *obedient*: it follows any instruction it finds anywhere in the messages, including
inside tool results and quoted data, which is what a prompt-injected model would do:
- `CALL <tool> <json arguments>`: it calls that tool (once per distinct call);
- `SAY <text>`: it says that text (up to the end of the line).
With nothing to obey it answers from the tool results it was given: "label: value [n]" for each
citation. It records every request it receives (`requests`), and can be told to fail (`fail_status`,
`fail_times`) or to be slow (`delay`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CALL = re.compile(r"CALL (?P<name>[a-z_]+) (?P<args>\{[^\n]*?\})")
SAY = re.compile(r"SAY (?P<text>[^\n\"\\]+)")


class FakeOpenAI:
    def __init__(self):
        self.requests: list[dict] = []
        self.fail_status = 0
        self.fail_times = 0
        self.delay = 0.0
        self.retry_after = ""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the model -------------------------------------------------------------------------------------

    @staticmethod
    def _texts(messages: list[dict]) -> list[str]:
        texts = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                # Tool results are JSON: read the text the way a model would, unescaped.
                texts.append(content.replace('\\"', '"'))
        return texts

    def decide(self, body: dict) -> tuple[str, object]:
        messages = body["messages"]
        done_calls = {
            (call["function"]["name"], call["function"]["arguments"])
            for message in messages
            if message.get("role") == "assistant"
            for call in message.get("tool_calls") or []
        }
        if body.get("tools"):
            for text in self._texts(messages):
                for match in CALL.finditer(text):
                    call = (match.group("name"), match.group("args"))
                    if call not in done_calls:
                        return "tool_calls", [call]
        said = [match.group("text").strip() for text in self._texts(messages) for match in SAY.finditer(text)]
        if said:
            return "text", "\n\n".join(said)
        lines = []
        for message in messages:
            if message.get("role") != "tool":
                continue
            document = json.loads(message["content"]).get("quoted_data", {})
            for citation in document.get("citations", []):
                lines.append(f"- {citation['label']}: {citation['value']} ({citation['date']}) [{citation['n']}]")
            if "error" in document:
                lines.append(f"- (tool refused: {document['error']})")
        return "text", "Here is what your records show:\n\n" + "\n".join(lines) if lines else "I found nothing."

    # -- the wire format ------------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(body)
                if fake.delay:
                    time.sleep(fake.delay)
                if self.path != "/v1/chat/completions":
                    return self._error(404, "not_found")
                if self.headers.get("Authorization", "") != "Bearer test-key":
                    return self._error(401, "invalid_api_key")
                if fake.fail_status and fake.fail_times:
                    fake.fail_times -= 1
                    return self._error(fake.fail_status, "server_error")
                kind, payload = fake.decide(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                base = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": body["model"],
                }

                def chunk(delta, finish=None):
                    data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                    self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()

                chunk({"role": "assistant", "content": ""})
                if kind == "tool_calls":
                    for index, (name, arguments) in enumerate(payload):
                        call_id = f"call_{len(fake.requests)}_{index}"
                        chunk(
                            {
                                "tool_calls": [
                                    {
                                        "index": index,
                                        "id": call_id,
                                        "type": "function",
                                        "function": {"name": name, "arguments": ""},
                                    }
                                ]
                            }
                        )
                        # Arguments arrive in pieces, as they do from the real API.
                        for start in range(0, len(arguments), 7):
                            chunk(
                                {
                                    "tool_calls": [
                                        {"index": index, "function": {"arguments": arguments[start : start + 7]}}
                                    ]
                                }
                            )
                    chunk({}, "tool_calls")
                else:
                    for start in range(0, len(payload), 12):
                        chunk({"content": payload[start : start + 12]})
                    chunk({}, "stop")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _error(self, status, code):
                body = json.dumps({"error": {"message": f"fake {code}", "type": code, "code": code}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if fake.retry_after:
                    self.send_header("Retry-After", fake.retry_after)
                self.end_headers()
                self.wfile.write(body)

        return Handler
