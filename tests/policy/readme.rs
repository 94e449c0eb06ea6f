//! Docs match behaviour: the README's rule table is the catalogue, row for row. With
//! `VAULTGATE_BLESS=1` the test rewrites the table from the catalogue instead of failing
//! (the same table `vaultgate rules --markdown` prints).

use vaultgate::policy::rules::markdown_table;

const BEGIN: &str = "<!-- rules:begin -->\n";
const END: &str = "<!-- rules:end -->";

#[test]
fn readme_rule_table_matches_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README has the rules:begin marker")
        + BEGIN.len();
    let end = readme.find(END).expect("README has the rules:end marker");
    let expected = markdown_table();
    if std::env::var_os("VAULTGATE_BLESS").is_some_and(|v| v == "1") {
        let blessed = format!("{}{expected}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, blessed).expect("rewrite README.md");
        return;
    }
    assert_eq!(
        &readme[start..end],
        expected,
        "the README rule table is not the catalogue: run `VAULTGATE_BLESS=1 cargo test --test policy readme` (or paste `vaultgate rules --markdown`)"
    );
}
