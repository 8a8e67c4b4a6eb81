#!/usr/bin/python3
"""Responses checked against docs/openapi.yaml.

    spec = Spec()                       # docs/openapi.yaml, or $VG_OPENAPI
    problems = spec.check_response("GET", "/v1/tenants/acme/queue", 200,
                                   "application/json", body_bytes)
    spec.uncovered()                    # ["GET /metrics", ...]

check_response finds the operation whose path template matches the concrete
path (the query string is ignored; a template segment such as {tenant}
matches one segment; a literal segment such as documents:batch only
itself), then checks that the status is documented for it (or a
`default`), that the Content-Type is one the response documents, and that
the body validates against its schema (JSON Schema 2020-12, with
jsonschema's Draft202012Validator; `$ref: '#/components/...'` resolves in
the whole document). An `application/x-ndjson` body is checked line by
line. A path that matches no template, or a method its path does not
declare, is a problem only if the status is not one the dispatcher gives
there (400, 404, 405); such a reply is still checked against the error
envelope. With `headers`, the documented required headers (Allow on a
405, Retry-After on a 429) are checked too.

Debian 12's python3-yaml and python3-jsonschema (4.10) only.
"""
import json
import os
import re
import warnings

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_PATH = os.environ.get("VG_OPENAPI") or os.path.join(HERE, "..", "..", "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# What the dispatcher answers for a path matching no template (or a method
# the path does not declare) before any route runs.
UNROUTED_STATUSES = (400, 404, 405)


def _media(value):
    """'Text/Plain; version=0.0.4' -> ('text/plain', {'version': '0.0.4'})."""
    parts = [p.strip() for p in (value or "").split(";")]
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def _is_json(base):
    return base == "application/json" or base.endswith("+json")


class Spec:
    def __init__(self, path=SPEC_PATH):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        with warnings.catch_warnings():
            # jsonschema >= 4.18 deprecates RefResolver (for `referencing`);
            # Debian 12's 4.10 has only RefResolver.
            warnings.simplefilter("ignore", DeprecationWarning)
            # base "" with the whole document as referrer: '#/components/...'
            # resolves in the document, whatever subschema is validated.
            self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        self._validators = {}
        self.seen = set()  # (METHOD, template, status)
        self.templates = []
        for template in self.doc.get("paths", {}):
            segs = template.strip("/").split("/")
            rx = "/".join(re.escape(s) if "{" not in s else
                          "".join("[^/]+" if t.startswith("{") else re.escape(t)
                                  for t in re.split(r"(\{[^}]*\})", s) if t)
                          for s in segs)
            literal = sum(1 for s in segs if "{" not in s)
            self.templates.append((literal, template, re.compile("^/" + rx + "$")))
        # the most literal segments first: /x/{a}/search before /x/{a}/{b}
        self.templates.sort(key=lambda t: -t[0])

    # ---- lookups

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def template_of(self, url_path):
        path = url_path.split("?", 1)[0].split("#", 1)[0]
        for _, template, rx in self.templates:
            if rx.match(path):
                return template
        return None

    def operations(self):
        """Every (METHOD, template) the document declares."""
        return [(m.upper(), t) for t, item in self.doc.get("paths", {}).items() for m in METHODS if m in item]

    def _validator(self, schema):
        v = self._validators.get(id(schema))
        if v is None:
            v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
            self._validators[id(schema)] = (v, schema)  # keeps schema alive, so its id stays its own
        else:
            v = v[0]
        return v

    def _schema_problems(self, schema, instance, what):
        errors = sorted(self._validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
        out = []
        for e in errors[:3]:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            out.append("%s: at %s: %s" % (what, where, e.message[:300]))
        if len(errors) > 3:
            out.append("%s: %d more schema errors" % (what, len(errors) - 3))
        return out

    # ---- the check

    def _check_against(self, resp, what, status, content_type, body, headers):
        """Problems of one reply against one (dereferenced) response object."""
        problems = []
        resp = self.deref(resp)
        if headers is not None:
            lower = {k.lower(): v for k, v in headers.items()}
            for name, h in (resp.get("headers") or {}).items():
                h = self.deref(h)
                if h.get("required") and name.lower() not in lower:
                    problems.append("%s: no %s header" % (what, name))
        content = resp.get("content") or {}
        if not content:
            if body:
                problems.append("%s: a body (%d bytes) where none is documented" % (what, len(body)))
            return problems
        if not body:
            problems.append("%s: no body; documented: %s" % (what, ", ".join(content)))
            return problems
        base, params = _media(content_type)
        media = None
        for name, m in content.items():
            dbase, dparams = _media(name)
            if dbase in (base, "*/*") or (dbase.endswith("/*") and base.startswith(dbase[:-1])):
                if all(params.get(k) == v for k, v in dparams.items()):
                    media = m
                    break
        if media is None:
            problems.append("%s: Content-Type %r is not documented (%s)" % (what, content_type, ", ".join(content)))
            return problems
        schema = (media or {}).get("schema")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            return problems + ["%s: the body is not UTF-8 (%s)" % (what, e)]
        if base == "application/x-ndjson":
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            for i, line in enumerate(lines, 1):
                try:
                    value = json.loads(line)
                except ValueError as e:
                    problems.append("%s: line %d is not JSON (%s)" % (what, i, e))
                    continue
                if schema is not None:
                    problems += self._schema_problems(schema, value, "%s line %d" % (what, i))
        elif _is_json(base):
            try:
                value = json.loads(text)
            except ValueError as e:
                return problems + ["%s: the body is not JSON (%s)" % (what, e)]
            if schema is not None:
                problems += self._schema_problems(schema, value, what)
        elif schema is not None:
            problems += self._schema_problems(schema, text, what)
        return problems

    def check_response(self, method, url_path, status, content_type, body_bytes, headers=None):
        """The problems of one response (a list of strings, empty when it
        is as documented); records what was seen for uncovered()."""
        method = method.upper()
        body = body_bytes or b""
        what = "%s %s -> %d" % (method, url_path, status)
        template = self.template_of(url_path)
        item = self.doc["paths"].get(template) if template else None
        op = item.get(method.lower()) if item else None
        if op is None:
            # no route here: the dispatcher's replies only
            if status not in UNROUTED_STATUSES:
                why = "no path template matches" if template is None else "%s declares no %s" % (template, method)
                return ["%s: %s, and %d is not one of the dispatcher's %s" % (what, why, status, UNROUTED_STATUSES)]
            resp = self.doc.get("x-dispatcher-responses", {}).get(str(status))
            return self._check_against(resp, what, status, content_type, body, headers) if resp else []
        self.seen.add((method, template, status))
        responses = op.get("responses", {})
        resp = (responses.get(str(status)) or responses.get("%dXX" % (status // 100))
                or responses.get("%dxx" % (status // 100)) or responses.get("default"))
        if resp is None:
            return ["%s: status %d is not documented for %s %s (documented: %s)"
                    % (what, status, method, template, ", ".join(sorted(responses)))]
        return self._check_against(resp, "%s (%s %s)" % (what, method, template), status, content_type, body,
                                   headers)

    def uncovered(self):
        """Operations ("METHOD template") never seen with a 2xx status."""
        ok = {(m, t) for m, t, s in self.seen if 200 <= s < 300}
        return ["%s %s" % (m, t) for m, t in self.operations() if (m, t) not in ok]


_default = None


def _spec():
    global _default
    if _default is None:
        _default = Spec()
    return _default


def check_response(method, url_path, status, content_type, body_bytes, headers=None):
    """check_response of the default Spec (docs/openapi.yaml)."""
    return _spec().check_response(method, url_path, status, content_type, body_bytes, headers)


def uncovered():
    return _spec().uncovered()


if __name__ == "__main__":
    # A self-check of the document: every schema is a valid 2020-12 schema
    # and every $ref resolves.
    s = Spec()

    def walk(o, where):
        if isinstance(o, dict):
            if "$ref" in o:
                try:
                    s.resolver.resolve(o["$ref"])
                except jsonschema.RefResolutionError as e:
                    raise SystemExit("%s: %s" % (where, e))
            if isinstance(o.get("schema"), dict):
                jsonschema.Draft202012Validator.check_schema(o["schema"])
            for k, v in o.items():
                walk(v, where + "/" + str(k))
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, "%s/%d" % (where, i))

    walk(s.doc, "")
    for name, schema in s.doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    print("%s: %d operations, every schema and $ref good" % (SPEC_PATH, len(s.operations())))
