"""JUnit XML with junit-xml: one testsuite per category, one testcase per check."""
from junit_xml import TestCase, TestSuite, to_xml_report_string

from .text import clean, failure_text

OUTPUT_LIMIT = 4096


def render(report):
    suites = []
    for category, checks in report.by_category().items():
        cases = []
        for check in checks:
            case = TestCase(clean(check.id), classname=category, elapsed_sec=check.duration,
                            stdout=clean(check.output, OUTPUT_LIMIT) or None)
            if check.status == 'failed':
                case.add_failure_info(clean(check.message.split('\n')[0]), clean(failure_text(check)))
            elif check.status == 'error':
                case.add_error_info(clean(check.message.split('\n')[0]), clean(failure_text(check)))
            elif check.status == 'skipped':
                case.add_skipped_info(clean(check.message))
            cases.append(case)
        suites.append(TestSuite(f'micrograde.{category}', cases,
                                properties={'submission': clean(report.submission),
                                            'seed': str(report.seed), 'profile': report.profile,
                                            'isolation': report.isolation,
                                            'unprotected': ' '.join(
                                                report.protections.get('unprotected', []))},
                                stdout=clean(report.output, OUTPUT_LIMIT) if category == 'load' else None))
    return to_xml_report_string(suites, prettyprint=True, encoding='utf-8')


def write(report, path):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(render(report))
