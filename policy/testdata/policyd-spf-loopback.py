# Runs Debian's policyd-spf (postfix-policyd-spf-python) on stdin/stdout,
# as Postfix's spawn(8) would, with pyspf's DNS sent to the loopback test
# server on 127.0.0.1:PORT instead of /etc/resolv.conf.
# Usage: /usr/bin/python3 policyd-spf-loopback.py PORT CONFIG
import sys

import dns.resolver

r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[1])
dns.resolver.default_resolver = r
sys.argv = ["policyd-spf", sys.argv[2]]

from spf_engine.policyd_spf import main  # noqa: E402

sys.exit(main())
