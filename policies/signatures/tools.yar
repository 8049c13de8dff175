// Offensive tools identified by the strings their own code carries (banners, project names, usage
// text), so renamed copies are still recognised.

rule recon_linpeas_linenum
{
    meta:
        description = "Linux privilege-escalation enumeration scripts (linPEAS, LinEnum, linux-exploit-suggester, lse, deepce)"
        family = "recon"
    strings:
        $a = "PEASS-ng"
        $b = "linpeas" nocase
        $c = "LinEnum"
        $d = "linux-exploit-suggester" nocase
        $e = "linux-smart-enumeration"
        $f = "deepce" nocase
        $g = "Docker Enumeration, Escalation of Privileges and Container Escapes"
    condition:
        any of them
}

rule recon_pspy
{
    meta:
        description = "pspy: unprivileged process snooping"
        family = "recon"
    strings:
        $a = "pspy - version" nocase
        $b = "DominicBreuker/pspy"
    condition:
        any of them
}

rule k8s_attack_tooling
{
    meta:
        description = "Kubernetes attack tools (peirates, kube-hunter, kubeletctl, CDK)"
        family = "k8s-attack"
    strings:
        $a = "peirates" nocase
        $b = "kube-hunter" nocase
        $c = "kubeletctl" nocase
        $d = "cdk-team" nocase
        $e = "kubesploit" nocase
    condition:
        any of them
}

rule container_escape_cgroup_release_agent
{
    meta:
        description = "cgroup v1 release_agent escape: writes release_agent and notify_on_release"
        family = "container-escape"
    strings:
        $a = "release_agent"
        $b = "notify_on_release"
        $c = "/proc/sys/kernel/core_pattern"
        $d = "mount -t cgroup"
    condition:
        ($a and $b) or ($c and $d)
}

rule steganography_tooling
{
    meta:
        description = "Steganography tools (steghide, outguess, stegseek)"
        family = "steganography"
    strings:
        $a = "steghide" nocase
        $b = "outguess" nocase
        $c = "stegseek" nocase
    condition:
        any of them
}
