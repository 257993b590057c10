"""The JSON report: the result model as strict JSON (no NaN/Infinity literals), UTF-8."""
import json

from micrograde.model.results import Report


def render(report):
    return (json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
            + '\n').encode('utf-8')


def read(path):
    with open(path, encoding='utf-8') as f:
        return Report.from_dict(json.load(f))
