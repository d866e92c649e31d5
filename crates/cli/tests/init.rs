//! `portmatrix init` writes an inventory that plans once its placeholders
//! are filled in: for every catalog product, and for all of them together.

use assert_cmd::Command;

fn pm() -> Command {
    Command::cargo_bin("portmatrix").unwrap()
}

/// Replaces every placeholder with a distinct value, as a user would.
fn fill(text: &str) -> String {
    let mut out = String::new();
    let (mut hosts, mut nets, mut ports) = (0u32, 0u32, 0u32);
    let mut rest = text;
    loop {
        let next = ["FILL-ADDRESS", "FILL-CIDR", "FILL-PORT"].iter().filter_map(|p| rest.find(p).map(|i| (i, *p))).min();
        let Some((i, p)) = next else { break };
        out.push_str(&rest[..i]);
        match p {
            "FILL-ADDRESS" => {
                hosts += 1;
                out.push_str(&format!("10.1.{}.{}", hosts / 200, hosts % 200 + 1));
            }
            "FILL-CIDR" => {
                nets += 1;
                out.push_str(&format!("172.16.{nets}.0/24"));
            }
            _ => {
                ports += 1;
                out.push_str(&format!("{}", 31000 + ports));
            }
        }
        rest = &rest[i + p.len()..];
    }
    out.push_str(rest);
    out
}

fn plans(products: &[&str]) {
    let mut cmd = pm();
    cmd.arg("init");
    for p in products {
        cmd.args(["--product", p]);
    }
    let out = cmd.assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("FILL-ADDRESS"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("site.yaml");
    // Unfilled, it does not plan: the placeholders are not addresses.
    std::fs::write(&inv, &text).unwrap();
    pm().args(["plan", "-i"]).arg(&inv).assert().code(2);
    std::fs::write(&inv, fill(&text)).unwrap();
    let done = pm().args(["plan", "--summary", "-i"]).arg(&inv).output().unwrap();
    assert_eq!(done.status.code(), Some(0), "{products:?}\n{}\n{}", String::from_utf8_lossy(&done.stderr), fill(&text));
}

#[test]
fn every_catalog_product_plans_after_fill_in() {
    for id in ["jtel-acd", "jtel-acd@previous", "jtel-stack", "moderro-rem", "imagicle-ucsuite", "avaya-pom"] {
        plans(&[id]);
    }
}

#[test]
fn all_five_together_plan_after_fill_in() {
    plans(&["jtel-acd", "jtel-stack", "moderro-rem", "imagicle-ucsuite", "avaya-pom"]);
}

#[test]
fn init_never_replaces_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("site.yaml");
    std::fs::write(&inv, "mine").unwrap();
    pm().args(["init", "--product", "jtel-stack", "-o"]).arg(&inv).assert().code(2);
    assert_eq!(std::fs::read_to_string(&inv).unwrap(), "mine");
    pm().args(["init", "--product", "no-such-product"]).assert().code(2);
}
