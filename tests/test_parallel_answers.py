"""The second process's answers travel through the scratch file a frame at a time (engine/parallel.py)."""

from __future__ import annotations

import pickle
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from gen_tree import generate  # noqa: E402

from nginxssl.engine.parallel import Forked  # noqa: E402
from nginxssl.pki.load import Loader, der  # noqa: E402


def test_an_answer_is_read_without_holding_its_whole_pickle():
    answer = [f"{number:08} " + "clause; " * 120 for number in range(20_000)]  # ~20 MB, like a tree's findings
    size = len(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    with Forked(lambda: iter([answer, answer[:3]])) as child:
        tracemalloc.start()
        try:
            arrived = child.next()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert arrived == answer
        assert child.next() == answer[:3]  # the second answer starts where the first ended
    # The strings themselves are about `size`; the pickle read whole beside them doubled the peak.
    assert peak < 1.3 * size, (peak, size)


def test_an_answer_pickled_again_with_its_certificates_replaces_the_first_attempt(tmp_path):
    main = generate(tmp_path / "tree", 4, 1, 2, "nginx")
    loader = Loader()
    material = loader.load(str(main.parent / "ssl" / "cert1.pem"))
    # Plain pickle writes frames of the strings before it meets the certificate and gives up.
    answer = ([f"{n}" * 300 for n in range(2_000)], material.certs[0])
    with Forked(lambda: iter([answer, "after"]), loader) as child:
        strings, cert = child.next()
        assert child.next() == "after"
    assert strings == answer[0] and cert is material.certs[0]


def test_the_loader_names_a_certificate_by_the_der_its_analysis_shares(tmp_path):
    """One object per certificate, keyed by the DER the chain analysis asks for (pki/load.der), not
    by the PEM text beside it: the intermediate of two fullchains is one object, block_of gives
    that very DER, and certificate() takes it back, or a PEM block (the chain diagnoses an earlier
    run kept name certificates so)."""
    main = generate(tmp_path / "tree", 8, 1, 4, "nginx")  # cert1 and cert3: leaves of Intermediate 1
    loader = Loader()
    first = loader.load(str(main.parent / "ssl" / "cert1.pem")).certs
    second = loader.load(str(main.parent / "ssl" / "cert3.pem")).certs
    assert len(first) == len(second) == 2 and first[1] is second[1] and first[0] is not second[0]
    for cert in (*first, second[0]):
        assert loader.block_of(cert) is der(cert)
        assert loader.certificate(der(cert)) is cert
    text = (main.parent / "ssl" / "cert1.pem").read_bytes()
    block = text[:text.index(b"-----END CERTIFICATE-----\n") + len(b"-----END CERTIFICATE-----\n")]
    assert loader.certificate(block) is first[0]
    # A loader that never read the file reads it from either; the same DER comes back.
    assert der(Loader().certificate(block)) == der(Loader().certificate(der(first[0]))) == der(first[0])
