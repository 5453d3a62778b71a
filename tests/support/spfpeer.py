"""Mail::SPF (Debian libmail-spf-perl) as an independent SPF implementation for cross-checks.

It is driven through a short Perl script whose Net::DNS resolver asks only our loopback
DNS server (nameserver and port set explicitly), so both implementations see the same
records. ``HAS_MAIL_SPF`` is false where the Perl module is not installed.
"""

from __future__ import annotations

import shutil
import subprocess

_SCRIPT = r"""
use strict; use Mail::SPF; use Net::DNS::Resolver;
my ($port, $ip, $sender, $helo) = @ARGV;
my $res = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port,
    recurse => 1, tcp_timeout => 1, udp_timeout => 1, retry => 1, retrans => 1);
my $server = Mail::SPF::Server->new(dns_resolver => $res, max_void_dns_lookups => 2);
my $req = Mail::SPF::Request->new(scope => ($sender ? 'mfrom' : 'helo'),
    identity => ($sender || $helo), ip_address => $ip, helo_identity => $helo);
print $server->process($req)->code, "\n";
"""


def _has_mail_spf() -> bool:
    if shutil.which("perl") is None:
        return False
    done = subprocess.run(["perl", "-MMail::SPF", "-e", "1"], capture_output=True,
                          check=False, timeout=30)
    return done.returncode == 0


HAS_MAIL_SPF = _has_mail_spf()


def mail_spf_result(dns_port: int, client_ip: str, mail_from: str, helo: str) -> str:
    """Mail::SPF's result keyword for this client, envelope sender and HELO name."""
    done = subprocess.run(["perl", "-e", _SCRIPT, str(dns_port), client_ip, mail_from, helo],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Mail::SPF failed: {done.stderr.strip()}")
    return done.stdout.strip()
