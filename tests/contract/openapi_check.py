#!/usr/bin/python3
"""Validate recorded HTTP exchanges against a vendor's OpenAPI / Swagger 2.0 spec.

usage: openapi_check.py --spec FILE [--spec FILE ...] [--prefix /v2]
                        [--relax date-maxlength] [--relax charset] --exchanges FILE.jsonl

The exchanges are what a sandbox recorded (sandbox::SandboxServer::record_exchanges): one JSON
object per line with method, path, query {name: [values]}, headers {lower-case name: value},
body, status, response_headers, response_body.

For each exchange it finds the operation (method + path template, under the spec's basePath or
its first server's path, plus --prefix) and checks:
  - the operation exists;
  - required path, query and header parameters are present and their values have the declared
    type, enum, pattern and length;
  - a JSON request body matches the operation's body schema; a form body has the required
    form fields;
  - the response status is declared (exactly, as nXX, or as "default");
  - a JSON response body matches the declared schema for that status.
Control routes (/_sandbox/...) are skipped.

Exit 0 with a one-line summary, or 1 with one line per violation:
  exchange 7 POST /csh/v1/hotels/H1/reservations/R/charges: request body /criteria/charges/0:
  'transactionCode' ... reason
Exit 2 when the command line, a spec or the exchange file cannot be used.

Only Debian packages: python3-jsonschema, python3-yaml. Quirks a vendor's spec is known to have
are relaxed only when asked (--relax), so every relaxation is visible in the test that uses it:
  date-maxlength  ignore maxLength on string fields of format date / date-time (OHIP declares
                  maxLength 8 on ISO dates of 10 characters)
  charset         accept a response content type that differs from the declared one only in
                  its parameters (application/json vs application/json;charset=UTF-8)
"""

import argparse
import json
import re
import sys
import urllib.parse

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover - environment problem, said clearly
    sys.stderr.write(f"openapi_check: {e}; install Debian's python3-jsonschema and python3-yaml\n")
    sys.exit(2)

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def load_spec(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise SystemExit(f"openapi_check: {path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {e}")
    if not isinstance(doc, dict) or not ("swagger" in doc or "openapi" in doc):
        raise SystemExit(f"openapi_check: {path}: neither a Swagger 2.0 nor an OpenAPI 3 document")
    return doc


def relax(node, relaxations, openapi3):
    """Returns a copy of a spec document made fit for jsonschema's draft 4 validator."""
    if isinstance(node, list):
        return [relax(n, relaxations, openapi3) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: relax(v, relaxations, openapi3) for k, v in node.items()}
    if "date-maxlength" in relaxations and out.get("format") in ("date", "date-time") \
            and isinstance(out.get("maxLength"), int):
        del out["maxLength"]
    # OpenAPI 3.0's nullable is not JSON Schema: allow null explicitly.
    if openapi3 and out.get("nullable") is True:
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
        if "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            inner = {k: v for k, v in out.items() if k != "nullable"}
            out = {"anyOf": [inner, {"type": "null"}]}
    return out


class Operation:
    def __init__(self, spec, path_template, method, op, path_item):
        self.spec = spec
        self.template = path_template
        self.method = method.upper()
        self.op = op
        params = {}
        for p in path_item.get("parameters", []) + op.get("parameters", []):
            p = spec.deref(p)
            params[(p.get("in"), p.get("name"))] = p
        self.params = list(params.values())


class Spec:
    def __init__(self, path, doc, prefix, relaxations):
        self.path = path
        self.openapi3 = "openapi" in doc
        self.doc = relax(doc, relaxations, self.openapi3)
        if self.openapi3:
            servers = self.doc.get("servers") or [{"url": ""}]
            base = urllib.parse.urlparse(servers[0].get("url", "")).path
        else:
            base = self.doc.get("basePath", "")
        self.base = (prefix or "") + (base.rstrip("/") if base != "/" else "")
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.operations = []
        for template, item in (self.doc.get("paths") or {}).items():
            for method in METHODS:
                if method in item:
                    self.operations.append(Operation(self, template, method, item[method], item))

    def deref(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            _, node = self.resolver.resolve(node["$ref"])
            seen += 1
        return node


    def validate(self, instance, schema):
        validator = jsonschema.Draft4Validator(schema, resolver=self.resolver)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [("/" + "/".join(str(p) for p in e.absolute_path), e.message) for e in errors]


def template_regex(base, template):
    parts = re.split(r"(\{[^}]+\})", base + template)
    rx = "".join("(?P<p%d>[^/]+)" % i if p.startswith("{") else re.escape(p)
                 for i, p in enumerate(parts))
    names = {"p%d" % i: p[1:-1] for i, p in enumerate(parts) if p.startswith("{")}
    return re.compile("^" + rx + "/?$"), names


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def coerce(value, schema):
    """A parameter's text as the JSON value its schema declares (or the text when it isn't one)."""
    t = schema.get("type")
    try:
        if t == "integer":
            return int(value)
        if t == "number":
            return float(value)
        if t == "boolean":
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
    except ValueError:
        pass
    return value


def param_schema(spec, p):
    if spec.openapi3 or "schema" in p and p.get("in") != "body":
        return spec.deref(p.get("schema", {}))
    # Swagger 2.0: the schema keywords sit on the parameter itself.
    keys = ("type", "format", "enum", "pattern", "maxLength", "minLength", "maximum", "minimum",
            "items", "maxItems", "minItems")
    return {k: p[k] for k in keys if k in p}


class Checker:
    def __init__(self, specs, relaxations):
        self.specs = specs
        self.relaxations = relaxations
        self.matchers = []
        for spec in specs:
            for op in spec.operations:
                rx, names = template_regex(spec.base, op.template)
                literal = len(re.sub(r"\{[^}]+\}", "", op.template))
                self.matchers.append((rx, names, op, literal))
        self.violations = []
        self.used = set()

    def find(self, method, path):
        candidates = []
        for rx, names, op, literal in self.matchers:
            m = rx.match(path)
            if m:
                candidates.append((literal, op, {names[k]: urllib.parse.unquote(v)
                                                 for k, v in m.groupdict().items()}))
        if not candidates:
            return None, None, "no path of the spec matches"
        candidates.sort(key=lambda c: -c[0])
        for _, op, values in candidates:
            if op.method == method:
                return op, values, None
        declared = sorted({c[1].method for c in candidates})
        return None, None, f"the path exists but declares no {method} (only {', '.join(declared)})"

    def fail(self, n, ex, where, why):
        self.violations.append(f"exchange {n} {ex.get('method')} {ex.get('path')}: {where}: {why}")

    def check(self, n, ex):
        method = str(ex.get("method", "")).upper()
        path = ex.get("path", "")
        if path.startswith("/_sandbox/"):
            return False
        op, path_values, why = self.find(method, path)
        if op is None:
            self.fail(n, ex, "operation", why)
            return True
        self.used.add((op.spec.path, op.method, op.template))
        spec = op.spec
        headers = {k.lower(): v for k, v in (ex.get("headers") or {}).items()}
        query = ex.get("query") or {}
        body_param = None
        form_params = []
        for p in op.params:
            where = p.get("in")
            name = p.get("name")
            if where == "body":
                body_param = p
                continue
            if where == "formData":
                form_params.append(p)
                continue
            if where == "path":
                values = [path_values.get(name)] if name in path_values else []
            elif where == "query":
                values = query.get(name, [])
                if isinstance(values, str):
                    values = [values]
            elif where == "header":
                values = [headers[name.lower()]] if name.lower() in headers else []
            else:
                continue
            if not values:
                if p.get("required"):
                    self.fail(n, ex, f"{where} parameter {name}", "required but missing")
                continue
            schema = param_schema(spec, p)
            if schema.get("type") == "array":
                items = schema.get("items", {})
                parts = values
                if len(values) == 1 and p.get("collectionFormat", "csv") == "csv" and not spec.openapi3:
                    parts = values[0].split(",")
                instance = [coerce(v, spec.deref(items)) for v in parts]
            else:
                if len(values) > 1:
                    self.fail(n, ex, f"{where} parameter {name}", f"sent {len(values)} times, declared once")
                instance = coerce(values[0], schema)
            for at, msg in spec.validate(instance, schema):
                self.fail(n, ex, f"{where} parameter {name}{at if at != '/' else ''}", msg)
        self.check_request_body(n, ex, op, headers, body_param, form_params)
        self.check_response(n, ex, op)
        return True

    def check_request_body(self, n, ex, op, headers, body_param, form_params):
        spec = op.spec
        body = ex.get("body") or ""
        ctype = media_type(headers.get("content-type"))
        schema = None
        form_schema = None
        if spec.openapi3:
            rb = spec.deref(op.op.get("requestBody")) if op.op.get("requestBody") else None
            if rb:
                content = rb.get("content", {})
                if body and ctype and ctype not in {media_type(k) for k in content}:
                    self.fail(n, ex, "request body", f"content type {ctype} is not one of "
                              f"{', '.join(sorted(content))}")
                chosen = None
                for k, v in content.items():
                    if media_type(k) == ctype:
                        chosen = v
                if chosen is None:
                    chosen = content.get("application/json") or next(iter(content.values()), None)
                if chosen:
                    if ctype == "application/x-www-form-urlencoded":
                        form_schema = spec.deref(chosen.get("schema", {}))
                    else:
                        schema = chosen.get("schema")
                if rb.get("required") and not body:
                    self.fail(n, ex, "request body", "required but empty")
            elif body:
                self.fail(n, ex, "request body", "the operation declares no request body")
        else:
            if body_param is not None:
                schema = body_param.get("schema")
                if body_param.get("required") and not body:
                    self.fail(n, ex, "request body", "required but empty")
                consumes = op.op.get("consumes") or spec.doc.get("consumes")
                if body and consumes and ctype and ctype not in {media_type(c) for c in consumes}:
                    self.fail(n, ex, "request body", f"content type {ctype} is not one of "
                              f"{', '.join(consumes)}")
            elif form_params:
                form_schema = {"type": "object", "properties": {}, "required": []}
                for p in form_params:
                    form_schema["properties"][p["name"]] = param_schema(spec, p)
                    if p.get("required"):
                        form_schema["required"].append(p["name"])
            elif body:
                self.fail(n, ex, "request body", "the operation declares no request body")
        if form_schema is not None:
            fields = urllib.parse.parse_qs(body, keep_blank_values=True)
            props = form_schema.get("properties", {})
            for name in form_schema.get("required", []):
                if name not in fields:
                    self.fail(n, ex, f"form field {name}", "required but missing")
            for name, values in fields.items():
                if name in props:
                    value = coerce(values[0], spec.deref(props[name]))
                    for at, msg in spec.validate(value, props[name]):
                        self.fail(n, ex, f"form field {name}", msg)
                elif form_schema.get("additionalProperties") is False:
                    self.fail(n, ex, f"form field {name}", "not declared")
            return
        if schema is None or not body:
            return
        try:
            instance = json.loads(body)
        except ValueError as e:
            self.fail(n, ex, "request body", f"not valid JSON: {e}")
            return
        for at, msg in spec.validate(instance, schema):
            self.fail(n, ex, f"request body {at}", msg)

    def check_response(self, n, ex, op):
        spec = op.spec
        status = ex.get("status")
        responses = op.op.get("responses") or {}
        key = None
        for k in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if k in responses:
                key = k
                break
        if key is None:
            self.fail(n, ex, "response", f"status {status} is not declared (declared: "
                      f"{', '.join(sorted(responses))})")
            return
        response = spec.deref(responses[key])
        body = ex.get("response_body") or ""
        rheaders = {k.lower(): v for k, v in (ex.get("response_headers") or {}).items()}
        rtype = rheaders.get("content-type", "")
        schema = None
        if spec.openapi3:
            content = response.get("content") or {}
            if content and body:
                exact = [k for k in content if k.lower() == rtype.lower()]
                loose = [k for k in content if media_type(k) == media_type(rtype)]
                if not exact and not (loose and "charset" in self.relaxations):
                    if not loose:
                        self.fail(n, ex, "response", f"content type {rtype or '(none)'} is not one "
                                  f"of {', '.join(sorted(content))}")
                chosen = (exact or loose or [None])[0]
                if chosen:
                    schema = content[chosen].get("schema")
        else:
            schema = response.get("schema")
            produces = op.op.get("produces") or spec.doc.get("produces")
            if body and schema is not None and produces and rtype:
                if rtype.lower() not in {p.lower() for p in produces}:
                    loose = media_type(rtype) in {media_type(p) for p in produces}
                    if not (loose and "charset" in self.relaxations):
                        self.fail(n, ex, "response", f"content type {rtype} is not one of "
                                  f"{', '.join(produces)}")
        if schema is None or not body:
            return
        if media_type(rtype) not in ("application/json", "application/problem+json", "") and \
                not media_type(rtype).endswith("+json"):
            self.fail(n, ex, "response", f"a schema is declared but the body is {rtype}")
            return
        try:
            instance = json.loads(body)
        except ValueError as e:
            self.fail(n, ex, "response body", f"not valid JSON: {e}")
            return
        for at, msg in spec.validate(instance, schema):
            self.fail(n, ex, f"response body {at}", msg)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", action="append", required=True, help="OpenAPI 3 / Swagger 2.0 file")
    ap.add_argument("--prefix", default="", help="path prefix the spec's paths lack (e.g. /v2)")
    ap.add_argument("--relax", action="append", default=[], choices=["date-maxlength", "charset"])
    ap.add_argument("--exchanges", required=True, help="JSON Lines file a sandbox recorded")
    ap.add_argument("--min-exchanges", type=int, default=1,
                    help="fail when fewer exchanges were checked (default 1: an empty file fails)")
    args = ap.parse_args(argv)

    specs = [Spec(p, load_spec(p), args.prefix, set(args.relax)) for p in args.spec]
    checker = Checker(specs, set(args.relax))
    checked = 0
    try:
        with open(args.exchanges, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    ex = json.loads(line)
                except ValueError as e:
                    print(f"openapi_check: {args.exchanges}:{n}: not a JSON object: {e}", file=sys.stderr)
                    return 2
                if checker.check(n, ex):
                    checked += 1
    except OSError as e:
        print(f"openapi_check: {e}", file=sys.stderr)
        return 2
    if checked < args.min_exchanges:
        checker.violations.append(f"only {checked} exchanges recorded in {args.exchanges}; "
                                  f"expected at least {args.min_exchanges}")
    for v in checker.violations:
        print(v)
    ops = len(checker.used)
    if checker.violations:
        print(f"{len(checker.violations)} violations in {checked} exchanges", file=sys.stderr)
        return 1
    print(f"{checked} exchanges valid against {ops} operations of "
          f"{', '.join(s.path.rsplit('/', 1)[-1] for s in specs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
