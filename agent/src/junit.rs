//! JUnit XML for CI systems: each rule is a test case (failed, skipped when not
//! checked, errored when incomplete), and so is each expectation.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::{
    analysis::{Judgement, render},
    expect::Unmet,
    rules::{Severity, Verdict},
};

/// The JUnit report of a check.
pub fn report(judgement: &Judgement, unmet: &[Unmet]) -> String {
    let mut suite = TestSuite::new("barwatch");
    for rule in &judgement.rules {
        let status = match rule.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Fail if rule.severity == Severity::Warning => TestCaseStatus::success(),
            Verdict::Fail => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let first = &rule.violations[0];
                status.set_message(first.what.clone());
                status.set_type(rule.id.clone());
                status.set_description(violations_text(judgement, &rule.id));
                status
            }
            Verdict::NotChecked => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(rule.reason.clone().unwrap_or_default());
                status
            }
            Verdict::Incomplete => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(rule.reason.clone().unwrap_or_default());
                status.set_type("incomplete");
                status
            }
        };
        let mut case = TestCase::new(rule.id.clone(), status);
        case.set_classname("barwatch.rules");
        suite.add_test_case(case);
    }
    for reason in &judgement.unearned {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(reason.message.clone());
        status.set_type(reason.kind.to_string());
        let mut case = TestCase::new(format!("record: {}", reason.kind), status);
        case.set_classname("barwatch.record");
        suite.add_test_case(case);
    }
    for unmet in unmet {
        let kind = if unmet.failure {
            NonSuccessKind::Failure
        } else {
            NonSuccessKind::Error
        };
        let mut status = TestCaseStatus::non_success(kind);
        status.set_message(unmet.message.clone());
        let mut case = TestCase::new("expectations", status);
        case.set_classname("barwatch.expectations");
        suite.add_test_case(case);
    }
    suite.set_system_out(render::render(judgement));
    let mut report = Report::new("barwatch check");
    report.add_test_suite(suite);
    report
        .to_string()
        .expect("a report of owned strings serializes")
}

/// The text of every violation of `rule`, for the failure's body.
fn violations_text(judgement: &Judgement, rule: &str) -> String {
    judgement
        .rules
        .iter()
        .filter(|r| r.id == rule)
        .flat_map(|r| &r.violations)
        .map(|v| {
            let mut text = format!("{} at {}: {}\n", v.device, judgement.at(v.ts_ns), v.what);
            for frame in &v.stack {
                text.push_str(&format!("    {frame}\n"));
            }
            text.push_str(&format!("fix: {}\n", v.advice));
            text
        })
        .collect()
}
