//! Which exec sensor runs, and why (`RUNWARDEN_SENSOR`), decided before the workload is forked.
//!
//! `auto` takes the seccomp sensor only where installing its filter changes nothing the workload
//! can do. The filter needs either CAP_SYS_ADMIN or `no_new_privs` (seccomp(2)), and no_new_privs
//! makes setuid, setgid and file-capability programs run without their privileges (prctl(2)). So:
//! - runwarden has CAP_SYS_ADMIN: no no_new_privs is needed (a Cloud Run gen2 container as root);
//! - no_new_privs is already set (Docker `--security-opt no-new-privileges`, Kubernetes
//!   `allowPrivilegeEscalation: false`): the workload had it anyway;
//! - the image baseline lists no setuid, setgid or file-capability program: there is nothing for
//!   no_new_privs to take away;
//!
//! and the kernel must hand out a listener (gVisor, Cloud Run gen1, refuses with EINVAL).
//! Otherwise ptrace, and /proc polling when ptrace is refused too.
#![forbid(unsafe_code)]

use std::path::Path;

use crate::config::SensorSetting;

/// The exec sensor to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The seccomp sensor; `no_new_privs` says whether the child must set it first.
    Seccomp {
        no_new_privs: bool,
        why: String,
    },
    Ptrace {
        why: String,
    },
    Poll {
        why: String,
    },
}

impl Choice {
    pub fn why(&self) -> &str {
        match self {
            Choice::Seccomp { why, .. } | Choice::Ptrace { why } | Choice::Poll { why } => why,
        }
    }
}

/// What runwarden knows about itself and the image when it chooses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub cap_sys_admin: bool,
    pub no_new_privs: bool,
    /// The baseline's privileged programs: `None` when there is no baseline, or one that did not
    /// record them.
    pub privileged: Option<Vec<String>>,
}

impl Facts {
    /// Reads /proc/self/status and the baseline's list of privileged programs.
    pub fn gather(baseline: Option<&Path>) -> Facts {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap_sys_admin = crate::sys::seccomp::parse_has_cap_sys_admin(&status);
        let no_new_privs = crate::proc::parse::parse_no_new_privs(&status);
        // The baseline is only read when the answer depends on it.
        let privileged = if cap_sys_admin || no_new_privs {
            None
        } else {
            baseline.and_then(crate::enrich::baseline::read_privileged)
        };
        Facts { cap_sys_admin, no_new_privs, privileged }
    }
}

/// The choice for `setting`. `listener` probes whether a listener can be had (with or without
/// setting no_new_privs); it is only called when the seccomp sensor is wanted.
pub fn choose(
    setting: SensorSetting,
    facts: &Facts,
    listener: impl Fn(bool) -> std::io::Result<()>,
) -> Result<Choice, String> {
    match setting {
        SensorSetting::Poll => Ok(Choice::Poll { why: "RUNWARDEN_SENSOR=poll".into() }),
        SensorSetting::Ptrace => Ok(Choice::Ptrace { why: "RUNWARDEN_SENSOR=ptrace".into() }),
        SensorSetting::Seccomp => {
            let nnp = !facts.cap_sys_admin && !facts.no_new_privs;
            match listener(nnp) {
                Ok(()) => Ok(Choice::Seccomp {
                    no_new_privs: nnp,
                    why: if nnp {
                        "RUNWARDEN_SENSOR=seccomp (no_new_privs set: setuid programs do not gain privileges)"
                            .into()
                    } else {
                        "RUNWARDEN_SENSOR=seccomp".into()
                    },
                }),
                Err(e) => Err(format!("the kernel refuses a seccomp listener here: {e}")),
            }
        }
        SensorSetting::Auto => {
            let eligible = if facts.cap_sys_admin {
                Ok("runwarden has CAP_SYS_ADMIN".to_string())
            } else if facts.no_new_privs {
                Ok("no_new_privs is already set".to_string())
            } else {
                match &facts.privileged {
                    Some(p) if p.is_empty() => {
                        Ok("the image baseline lists no setuid, setgid or file-capability program"
                            .to_string())
                    }
                    Some(p) => Err(format!(
                        "the seccomp sensor would need no_new_privs, which takes privileges from {} \
                         program(s) of the image (e.g. {})",
                        p.len(),
                        p[0]
                    )),
                    None => {
                        Err("the seccomp sensor would need no_new_privs, and no image baseline says whether \
                         setuid programs would lose their privileges"
                            .to_string())
                    }
                }
            };
            match eligible {
                Ok(reason) => {
                    let nnp = !facts.cap_sys_admin && !facts.no_new_privs;
                    match listener(nnp) {
                        Ok(()) => Ok(Choice::Seccomp { no_new_privs: nnp, why: reason }),
                        Err(e) => {
                            Ok(Choice::Ptrace { why: format!("the kernel refuses a seccomp listener ({e})") })
                        }
                    }
                }
                Err(why) => Ok(Choice::Ptrace { why }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: bool) -> std::io::Result<()> {
        Ok(())
    }

    fn einval(_: bool) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::EINVAL))
    }

    #[test]
    fn auto_takes_seccomp_only_where_it_changes_nothing() {
        let admin = Facts { cap_sys_admin: true, ..Facts::default() };
        assert!(matches!(
            choose(SensorSetting::Auto, &admin, ok),
            Ok(Choice::Seccomp { no_new_privs: false, .. })
        ));
        let nnp = Facts { no_new_privs: true, ..Facts::default() };
        assert!(matches!(
            choose(SensorSetting::Auto, &nnp, ok),
            Ok(Choice::Seccomp { no_new_privs: false, .. })
        ));
        let clean = Facts { privileged: Some(vec![]), ..Facts::default() };
        let c = choose(SensorSetting::Auto, &clean, ok).unwrap();
        assert!(matches!(c, Choice::Seccomp { no_new_privs: true, .. }));
        assert!(c.why().contains("baseline"), "{}", c.why());

        let setuid = Facts { privileged: Some(vec!["/usr/bin/su".into()]), ..Facts::default() };
        let c = choose(SensorSetting::Auto, &setuid, ok).unwrap();
        assert!(matches!(&c, Choice::Ptrace { why } if why.contains("/usr/bin/su")), "{c:?}");
        let unknown = Facts::default();
        assert!(matches!(choose(SensorSetting::Auto, &unknown, ok), Ok(Choice::Ptrace { .. })));
        // gVisor: eligible, but no listener.
        let c = choose(SensorSetting::Auto, &admin, einval).unwrap();
        assert!(matches!(&c, Choice::Ptrace { why } if why.contains("listener")), "{c:?}");
    }

    #[test]
    fn named_sensors_are_taken_or_refused() {
        let none = Facts::default();
        let c = choose(SensorSetting::Seccomp, &none, ok).unwrap();
        assert!(matches!(c, Choice::Seccomp { no_new_privs: true, .. }));
        assert!(choose(SensorSetting::Seccomp, &none, einval).is_err());
        assert!(matches!(choose(SensorSetting::Ptrace, &none, einval), Ok(Choice::Ptrace { .. })));
        assert!(matches!(choose(SensorSetting::Poll, &none, ok), Ok(Choice::Poll { .. })));
    }
}
