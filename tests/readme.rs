//! Docs match behaviour: the README's rule table is the catalogue, row for row.

use vaultgate::policy::rules::ALL;

fn rendered_table() -> String {
    let mut rows: Vec<_> = ALL.to_vec();
    rows.sort_by_key(|r| r.id);
    let mut out =
        String::from("| ID | Slug | RFC-SECOPS-0001 | What it stops |\n|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.id, r.slug, r.rfc, r.stops
        ));
    }
    out
}

#[test]
fn readme_rule_table_matches_the_catalogue() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- rules:begin -->\n")
        .expect("README has the rules:begin marker")
        + "<!-- rules:begin -->\n".len();
    let end = readme
        .find("<!-- rules:end -->")
        .expect("README has the rules:end marker");
    let expected = rendered_table();
    assert_eq!(
        &readme[start..end],
        expected,
        "regenerate the README rule table; expected:\n{expected}"
    );
}
