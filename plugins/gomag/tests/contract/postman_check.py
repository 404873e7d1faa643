#!/usr/bin/python3
"""Checks recorded exchanges with a Gomag sandbox against Gomag's own Postman collection.

Usage: postman_check.py --collection gomag-public-api.postman_collection.json --exchanges FILE.jsonl

Each line of FILE.jsonl is one exchange, as the sandboxes record them:
{"method","path","query":{name:[values]},"headers":{lower-case name: value},"body","status",
 "response_headers","response_body"}. Control routes (/_sandbox/...) are skipped.

Requests (what the connector sent) are checked against the collection's request definitions:
  - the operation exists (method and path);
  - the headers the collection sends on every request: Apikey (collection auth) and ApiShop,
    and a User-Agent that is not PostmanRuntime/... (the collection's rule);
  - GET: every query parameter is one the collection documents for that path;
  - POST: a multipart (or url-encoded) form whose fields are the collection's fields for that
    path, each a JSON text whose top-level type is the example's (array or object) and whose
    keys, at any depth, all occur in the collection's example value or its field description.
Responses (what the sandbox answered) are checked against the collection's saved responses
(shape and field names):
  - HTTP 200 bodies are JSON; the top-level type is that of a saved response of the same
    outcome (success, or a business error: error/status not 200);
  - top-level keys are a subset of a saved response's of that outcome and include all of one;
  - every key at any depth (ids of keyed collections aside) occurs in a saved response of that
    path (the "Valori raspuns" field lists included).
Exit 0 with a summary, or 1 with one line per violation: exchange number, method, path, what.
Only the Python standard library is used (Debian's /usr/bin/python3).
"""
import argparse
import json
import re
import sys
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

KEY_RE = re.compile(r'"([A-Za-z_][A-Za-z0-9_ ]*)"\s*:')
ID_RE = re.compile(r'^\d+$')


def walk_items(items):
    for it in items:
        if 'item' in it:
            yield from walk_items(it['item'])
        else:
            yield it


def path_of(url):
    if isinstance(url, dict):
        return '/' + '/'.join(url.get('path', []))
    raw = re.sub(r'^\{\{BaseUrl\}\}', '', url)
    return raw.split('?')[0]


def collection_key(k, v):
    """A key of a keyed collection: an id (digits), or the item's own id or name (category
    write answers {"categories": {"<name>": [{"name": "<name>", ...}]}})."""
    if ID_RE.match(k):
        return True
    first = v[0] if isinstance(v, list) and v else v
    return isinstance(first, dict) and (str(first.get('id')) == k or first.get('name') == k)


def keys_anywhere(value, out):
    """Every object key at any depth; keys of keyed collections are not field names."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not collection_key(k, v):
                out.add(k)
            keys_anywhere(v, out)
    elif isinstance(value, list):
        for v in value:
            keys_anywhere(v, out)
    return out


def outcome(body):
    """'error' when the envelope says so (gomag.md's rule), else 'success'."""
    if isinstance(body, dict):
        for name in ('error', 'status'):
            if name in body and body[name] is not None and str(body[name]) != '200':
                return 'error'
    return 'success'


class Operation:
    def __init__(self, method, path):
        self.method, self.path = method, path
        self.query = set()
        self.fields = {}          # form field -> (example type, allowed keys)
        self.saved = []           # parsed saved responses with code 200
        self.documented = set()   # keys of every saved response, field lists included

    def add_request(self, item):
        req = item['request']
        url = req.get('url', {})
        if isinstance(url, dict):
            for q in url.get('query') or []:
                self.query.add(q['key'])
        body = req.get('body') or {}
        for f in body.get('formdata') or []:
            allowed = set()
            example_type = None
            for text in (f.get('value') or '', f.get('description') or ''):
                allowed |= set(KEY_RE.findall(text))
                stripped = text.lstrip()
                if example_type is None and stripped and stripped[0] in '[{':
                    example_type = 'array' if stripped[0] == '[' else 'object'
            old = self.fields.get(f['key'])
            if old:
                allowed |= old[1]
                example_type = old[0] or example_type
            self.fields[f['key']] = (example_type, allowed)
        for resp in item.get('response') or []:
            text = resp.get('body') or ''
            try:
                parsed = json.loads(text)
            except ValueError:
                self.documented |= set(KEY_RE.findall(text))
                continue
            keys_anywhere(parsed, self.documented)
            if resp.get('code') == 200:
                self.saved.append(parsed)
            original = (resp.get('originalRequest') or {}).get('url')
            if isinstance(original, dict):
                for q in original.get('query') or []:
                    self.query.add(q['key'])


def load_collection(path):
    c = json.load(open(path, encoding='utf-8'))
    ops = {}
    for item in walk_items(c['item']):
        req = item['request']
        key = (req['method'].upper(), path_of(req['url']))
        ops.setdefault(key, Operation(*key)).add_request(item)
    return ops


def form_fields(headers, body):
    ctype = headers.get('content-type', '')
    if ctype.startswith('multipart/form-data'):
        msg = BytesParser(policy=HTTP).parsebytes(
            ('Content-Type: ' + ctype + '\r\n\r\n').encode() + body.encode('utf-8'))
        if not msg.is_multipart():
            return None, 'the multipart body does not parse'
        fields = {}
        for part in msg.iter_parts():
            name = part.get_param('name', header='content-disposition')
            fields[name] = part.get_payload(decode=True).decode('utf-8')
        return fields, None
    if ctype.startswith('application/x-www-form-urlencoded'):
        return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}, None
    return None, 'Content-Type is %r, not a form (Gomag takes multipart/form-data)' % ctype


def check_request(op, x, say):
    h = {k.lower(): v for k, v in (x.get('headers') or {}).items()}
    for name in ('apikey', 'apishop'):
        if not h.get(name):
            say('request header %s is missing (the collection sends it on every request)' % name)
    ua = h.get('user-agent', '')
    if not ua or ua.startswith('PostmanRuntime/'):
        say('User-Agent %r: the collection requires one other than PostmanRuntime/...' % ua)
    if op.method == 'GET':
        for q in (x.get('query') or {}):
            if q not in op.query:
                say('query parameter %r is not in the collection for %s (it has: %s)'
                    % (q, op.path, ', '.join(sorted(op.query)) or 'none'))
        return
    fields, err = form_fields(h, x.get('body') or '')
    if err:
        say(err)
        return
    for name, text in fields.items():
        if name not in op.fields:
            say('form field %r is not in the collection for %s (it has: %s)'
                % (name, op.path, ', '.join(sorted(op.fields)) or 'none'))
            continue
        try:
            value = json.loads(text)
        except ValueError:
            say('form field %r is not JSON' % name)
            continue
        example_type, allowed = op.fields[name]
        got = 'array' if isinstance(value, list) else 'object' if isinstance(value, dict) else 'scalar'
        if example_type and got != example_type:
            say('form field %r is a JSON %s; the collection sends an %s' % (name, got, example_type))
        for k in sorted(keys_anywhere(value, set()) - allowed):
            say('form field %r: key %r occurs nowhere in the collection\'s example or description' % (name, k))
    for name in op.fields:
        if name not in fields and name not in ('file',):
            say('form field %r is missing' % name)


def check_response(op, x, say):
    status = x.get('status')
    if status != 200:
        return  # 429/5xx are the sandbox's budget and fault knobs: the collection saves only 200s
    try:
        body = json.loads(x.get('response_body') or '')
    except ValueError:
        say('the HTTP 200 body is not JSON')
        return
    kind = outcome(body)
    same = [s for s in op.saved if outcome(s) == kind and type(s) is type(body)]
    if not same:
        if kind == 'error' and isinstance(body, dict):
            # Error envelopes: the shapes gomag.md lists, seen on other paths of the collection.
            allowed = {'error', 'status', 'message', 'data', 'errorMessage'}
            for k in body:
                if k not in allowed:
                    say('error body key %r is not one of Gomag\'s envelope keys' % k)
            return
        say('a %s %s body: no saved response of %s has that shape'
            % (kind, type(body).__name__, op.path))
        return
    if isinstance(body, dict):
        tops = [set(s.keys()) for s in same]
        if not any(set(body.keys()) <= t for t in tops):
            extra = set(body.keys()) - set().union(*tops)
            say('top-level keys %s are not in a saved response' % sorted(extra))
        if not any(t <= set(body.keys()) for t in tops):
            say('top-level keys %s lack every saved response\'s set (e.g. %s)'
                % (sorted(body.keys()), sorted(min(tops, key=len))))
    for k in sorted(keys_anywhere(body, set()) - op.documented):
        say('response field %r occurs in no saved response of %s' % (k, op.path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--collection', required=True)
    ap.add_argument('--exchanges', required=True)
    args = ap.parse_args()
    ops = load_collection(args.collection)
    violations, checked, skipped = [], 0, 0
    with open(args.exchanges, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            x = json.loads(line)
            path, method = x.get('path', ''), x.get('method', '').upper()
            if path.startswith('/_sandbox/'):
                skipped += 1
                continue
            checked += 1

            def say(what, n=n, method=method, path=path):
                violations.append('%d %s %s: %s' % (n, method, path, what))
            op = ops.get((method, path))
            if op is None:
                say('no such operation in the collection')
                continue
            check_request(op, x, say)
            check_response(op, x, say)
    if violations:
        print('\n'.join(violations))
        print('%d violation(s) in %d exchange(s)' % (len(violations), checked))
        return 1
    print('%d exchange(s) conform to the collection (%d control route(s) skipped)' % (checked, skipped))
    return 0


if __name__ == '__main__':
    sys.exit(main())
