#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/ (run from anywhere):
requests in RESP (multibulk, inline, pipelined), binary request and reply
frames, argument lists, log records, a snapshot and users files. The log segment and the
snapshot in fuzz/seeds/ were written by a real usher-server running the
commands in commands.txt; the version-1 records come from
tests/fixtures/v1/. Each fuzz target's first input byte is a mode (see the
target), which this prepends."""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(os.path.dirname(HERE), "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as out:
        out.write(data)


def commands():
    with open(os.path.join(HERE, "commands.txt")) as lines:
        return [line.split() for line in lines if line.strip()]


def multibulk(words):
    out = b"*%d\r\n" % len(words)
    for word in words:
        word = word.encode()
        out += b"$%d\r\n%s\r\n" % (len(word), word)
    return out


def binary_request(request_id, words, key=None):
    body = b""
    flags = 0
    if key is not None:
        flags = 1
        body += bytes([len(key)]) + key
    body += struct.pack(">I", len(words))
    for index, word in enumerate(words):
        if index > 0 and word.lstrip("-").isdigit() and len(word) < 18:
            body += b"\x02" + struct.pack(">q", int(word))
        else:
            word = word.encode()
            body += b"\x01" + struct.pack(">I", len(word)) + word
    return bytes([0xD5, 1, 1, flags]) + struct.pack(">IQ", len(body), request_id) + body


def binary_reply(request_id, value):
    return bytes([0xD5, 1, 2, 0]) + struct.pack(">IQ", len(value), request_id) + value


def string(tag, text):
    return bytes([tag]) + struct.pack(">I", len(text)) + text


REPLIES = [
    b"\x00",
    string(1, b"OK"),
    string(2, b"value"),
    b"\x03" + struct.pack(">q", 144),
    b"\x04" + struct.pack(">d", 2.5),
    b"\x05\x01",
    b"\x06" + struct.pack(">I", 2) + string(2, b"a") + b"\x03" + struct.pack(">q", -1),
    b"\x07" + struct.pack(">I", 1) + string(1, b"held") + b"\x03" + struct.pack(">q", 3),
    b"\x08" + struct.pack(">H", 1) + struct.pack(">I", 3) + b"ERR",
]


def records(segment):
    """The records of a segment file: (record bytes, payload)."""
    version = struct.unpack("<I", segment[8:12])[0]
    offset = 24
    found = []
    while offset + 8 <= len(segment):
        length = struct.unpack("<I", segment[offset : offset + 4])[0]
        if length == 0:
            break
        record = segment[offset : offset + 8 + length]
        found.append((version, record, record[8:]))
        offset += 8 + length
    return found


# Users files: the README's roles, then one rule kind per file.
USERS = {
    "roles": "# roles\n"
    "user admin on #" + "a" * 64 + " ~* +@all\n"
    "user app on >app-pass ~sale:* ~stock:* +@read +@write +@sale +@connection -@dangerous\n"
    "user metrics on >metrics-pass -@all +ping +info +client|id +client|getname\n",
    "default-nopass": "user default on nopass ~* &* +@all\n",
    "rotation": "user app on >one >two <one #" + "b" * 64 + " !" + "b" * 64 + " allkeys allcommands\n",
    "reset": "user x on >p ~a* resetkeys ~b? resetpass nopass nocommands +get -get +@stock reset\n",
    "patterns": "user y on ~[a-c]*:\\* ~sale:* ~*:x +@sortedset -zadd +acl|whoami +config|get\n",
    "off": "user z off\nuser w\n",
    "errors": "user\nuser q on #123\nuser r +nosuchcommand\n",
    # A rule ending in a vertical tab: saved last on its line, it was
    # trimmed away when the file was read back.
    "crash-vertical-tab": "user y*:x +@sortedset -zadd +acl|AUUle:*\x0b ~*)))))))))",
}


def main():
    all_commands = commands()
    pipeline = b""
    for index, words in enumerate(all_commands):
        write("resp_request", "multibulk-%02d" % index, multibulk(words))
        write("resp_request", "inline-%02d" % index, " ".join(words).encode() + b"\r\n")
        write("parse_args", "args-%02d" % index, "\n".join(words).encode())
        write("binary_frame", "request-%02d" % index, b"\x00" + binary_request(index, words))
        pipeline += multibulk(words)
    write("resp_request", "pipeline", pipeline)
    write("resp_request", "inline-quoted", b'SET "a b\\x41" \'c d\'\r\n')
    write("resp_request", "hello", multibulk(["HELLO", "3", "SETNAME", "app"]))
    write("binary_frame", "request-idempotent",
          b"\x00" + binary_request(7, ["INCR", "counter"], key=b"req-1"))
    for index, value in enumerate(REPLIES):
        write("binary_frame", "reply-%02d" % index, b"\x01" + binary_reply(index, value))

    with open(os.path.join(HERE, "log-00000000000000000000.ulog"), "rb") as file:
        segment = file.read()
    for index, (_, record, payload) in enumerate(records(segment)):
        write("log_record", "v2-record-%02d" % index, b"\x01" + record)
        write("log_record", "v2-payload-%02d" % index, b"\x03" + payload)
    fixtures = os.path.join(ROOT, "tests", "fixtures", "v1", "log-only")
    with open(os.path.join(fixtures, "log-00000000000000000002.ulog"), "rb") as file:
        segment = file.read()
    for index, (_, record, payload) in enumerate(records(segment)[:12]):
        write("log_record", "v1-record-%02d" % index, b"\x00" + record)
        write("log_record", "v1-payload-%02d" % index, b"\x02" + payload)

    with open(os.path.join(HERE, "snapshot-00000000000000000058.usnap"), "rb") as file:
        snapshot = file.read()
    write("snapshot", "whole", b"\x00" + snapshot)
    write("snapshot", "sealed", b"\x01" + snapshot[24:])

    for name, text in USERS.items():
        write("users_file", name, text.encode())


if __name__ == "__main__":
    main()
