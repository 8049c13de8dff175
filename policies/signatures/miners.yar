// Cryptocurrency miners: XMRig and its forks, cpuminer/ccminer families, and the configuration a miner
// carries (pool URLs, algorithm names, tuning flags). Two independent traits are required so a program
// that merely mentions one word (a wallet app, a blog post in a cache) does not match.

rule miner_xmrig_family
{
    meta:
        description = "XMRig-family miner: its option names and pool/algorithm strings"
        family = "xmrig"
    strings:
        $name = "xmrig" nocase
        $opt1 = "--donate-level"
        $opt2 = "--cpu-max-threads-hint"
        $opt3 = "--randomx-mode"
        $opt4 = "--cpu-priority"
        $algo1 = "randomx" nocase
        $algo2 = "cryptonight" nocase
        $algo3 = "rx/0"
        $pool = /stratum\+(tcp|ssl|tls):\/\// nocase
    condition:
        ($name and 1 of ($opt*, $algo*, $pool)) or (2 of ($opt*) and 1 of ($algo*, $pool))
}

rule miner_generic_stratum_client
{
    meta:
        description = "A Stratum mining client: pool protocol methods with a pool URL or a mining algorithm"
        family = "coinminer"
    strings:
        $m1 = "mining.subscribe"
        $m2 = "mining.authorize"
        $m3 = "mining.submit"
        $m4 = "\"method\":\"login\""
        $pool = /stratum\+(tcp|ssl|tls):\/\// nocase
        $a1 = "cryptonight" nocase
        $a2 = "randomx" nocase
        $a3 = "scrypt" fullword
        $a4 = "ethash" nocase
    condition:
        2 of ($m*) and ($pool or 1 of ($a*))
}

rule miner_cpuminer_ccminer
{
    meta:
        description = "cpuminer, cpuminer-multi or ccminer builds"
        family = "cpuminer"
    strings:
        $a = "cpuminer" nocase
        $b = "ccminer" nocase
        $c = "--cpu-affinity"
        $d = "--benchmark"
        $pool = /stratum\+(tcp|ssl|tls):\/\// nocase
    condition:
        ($a or $b) and ($pool or ($c and $d))
}

rule miner_cryptojacking_kit
{
    meta:
        description = "Cryptojacking droppers that kill competing miners and hide their own (Kinsing, TeamTNT style)"
        family = "cryptojacking"
    strings:
        $k1 = "kdevtmpfsi"
        $k2 = "kinsing"
        $k3 = "pkill -f xmrig" nocase
        $k4 = "killall xmrig" nocase
        $k5 = "ld.so.preload"
        $k6 = "chattr -i"
        $k7 = "/var/tmp/.ICE-unix" nocase
        $pool = /stratum\+(tcp|ssl|tls):\/\// nocase
    condition:
        2 of ($k*) or (1 of ($k*) and $pool)
}
