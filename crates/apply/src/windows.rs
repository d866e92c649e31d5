//! The apply procedure for Windows hosts, as a PowerShell script run on the
//! host next to the compiled rules script (`compile -t windows`): snapshot
//! the whole Windows Firewall policy (`netsh advfirewall export`), arm the
//! rollback as a scheduled task that runs as SYSTEM at the deadline
//! (`netsh advfirewall import` of the snapshot; it survives the RDP or
//! WinRM session and the script), run the rules script, and tell the
//! caller how to confirm: from a NEW session, by deleting the task.
//! A failing rules script fires the rollback at once.

use portmatrix_targets::escape::powershell_quoted;

/// The apply script for `host`, whose compiled rules script is `rules`
/// (a file name next to it), itself named `me`, armed for `timeout_s`
/// seconds by default.
pub fn apply_script(host: &str, rules: &str, me: &str, timeout_s: u64) -> String {
    // Shown inside double quotes too: nothing there may expand.
    let me: String = me.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    let host_q = powershell_quoted(host);
    let rules_q = powershell_quoted(rules);
    format!(
        r#"# portmatrix apply for Windows host {host_q}: snapshot, armed rollback, load, confirm.
# Run as Administrator next to {rules_q}:
#   .\{me}                      # arm, load, print the confirmation command
#   .\{me} -Confirm ID          # from a NEW session: keep the new rules
#   .\{me} -Rollback ID         # put back the snapshot now
#Requires -RunAsAdministrator
param(
    [int]$TimeoutSeconds = {timeout_s},
    [string]$StateDir = (Join-Path $env:ProgramData 'portmatrix'),
    [string]$Confirm,
    [string]$Rollback
)
$ErrorActionPreference = 'Stop'
$Host_ = {host_q}
$Rules = Join-Path $PSScriptRoot {rules_q}

function Task-Name([string]$Id) {{ "portmatrix-rollback-$Id" }}
function Snapshot-Path([string]$Id) {{ Join-Path $StateDir "$Id.wfw" }}

if ($Confirm) {{
    # Deleting the task is the confirmation; a missing task means it fired or never was.
    Unregister-ScheduledTask -TaskName (Task-Name $Confirm) -Confirm:$false
    Write-Output "confirmed: apply $Confirm on $Host_ stays"
    exit 0
}}
if ($Rollback) {{
    & netsh.exe advfirewall import (Snapshot-Path $Rollback) | Out-Null
    if ($LASTEXITCODE -ne 0) {{ throw "netsh advfirewall import failed ($LASTEXITCODE)" }}
    Unregister-ScheduledTask -TaskName (Task-Name $Rollback) -Confirm:$false -ErrorAction SilentlyContinue
    Write-Output "rolled back apply $Rollback on $Host_"
    exit 0
}}

New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
$Id = [guid]::NewGuid().ToString('N').Substring(0, 16)
$Snapshot = Snapshot-Path $Id
# 1. Snapshot of the whole firewall policy, before anything changes.
& netsh.exe advfirewall export $Snapshot | Out-Null
if ($LASTEXITCODE -ne 0) {{ throw "netsh advfirewall export failed ($LASTEXITCODE); nothing was changed" }}
# 2. The rollback, armed before loading: a scheduled task as SYSTEM at the deadline.
$Action = New-ScheduledTaskAction -Execute 'netsh.exe' -Argument "advfirewall import `"$Snapshot`""
$Trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds($TimeoutSeconds)
Register-ScheduledTask -TaskName (Task-Name $Id) -Action $Action -Trigger $Trigger -User 'SYSTEM' -RunLevel Highest -Force | Out-Null
# 3. Load; on failure fire the rollback now.
try {{
    & $Rules
}} catch {{
    Start-ScheduledTask -TaskName (Task-Name $Id)
    throw "loading $Rules failed, the snapshot is being put back: $_"
}}
Write-Output $Id
Write-Output "applied $Id to ${{Host_}}: rollback at the deadline in $TimeoutSeconds s unless confirmed from a NEW session:"
Write-Output "  .\{me} -Confirm $Id"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_apply_script() {
        insta::assert_snapshot!("apply_ucs1", apply_script("ucs1", "ucs1.ps1", "apply-ucs1.ps1", 60));
    }

    #[test]
    fn hostile_names_stay_inside_their_quotes() {
        let s = apply_script("x'; Remove-Item C:\\ -Recurse; '", "r'.ps1", "a.ps1", 5);
        assert!(s.contains("$Host_ = 'x''; Remove-Item C:\\ -Recurse; '''"), "{s}");
        assert!(s.contains("Join-Path $PSScriptRoot 'r''.ps1'"), "{s}");
        let t = apply_script("h", "h.ps1", "apply-$(evil).ps1", 5);
        assert!(t.contains(".\\apply-__evil_.ps1 -Confirm") && !t.contains("$(evil)"), "{t}");
    }
}
