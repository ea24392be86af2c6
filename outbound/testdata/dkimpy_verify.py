# Verify every DKIM-Signature of a message with dkimpy, keys from a zone file
# ("selector._domainkey.domain value" per line), no network.
# Usage: dkimpy_verify.py ZONE MESSAGE; prints "idx d=DOMAIN s=SELECTOR pass|fail".
import sys
import dkim

zone = {}
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    name, value = line.split(None, 1)
    zone[name.lower().rstrip(".") + "."] = value.encode()

def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    return zone.get(name.lower().rstrip(".") + ".")

msg = open(sys.argv[2], "rb").read()
d = dkim.DKIM(msg, minkey=1024)
sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
for i, s in enumerate(sigs):
    tags = dict(
        (t.split(b"=", 1)[0].strip(), t.split(b"=", 1)[1].strip())
        for t in s.split(b";") if b"=" in t
    )
    try:
        ok = dkim.DKIM(msg, minkey=1024).verify(idx=i, dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        sys.stderr.write("signature %d: %s\n" % (i, e))
        ok = False
    print(i, "d=" + tags[b"d"].decode(), "s=" + tags[b"s"].decode(), "pass" if ok else "fail")
