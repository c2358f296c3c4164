/** Help texts: `kahuna help`, and `help` in the shell. */

export const longUsage =
  `kahuna: a distributed lock server, its node and its client in one executable

Lock commands (exit status: 0 done, 1 a definite no, 2 usage error, 3 no server reachable,
no majority of the cluster reachable, or outcome unknown):
  kahuna lock RESOURCE EXPIRES_MS [--owner O]   take RESOURCE for EXPIRES_MS milliseconds;
                                                prints "f<token> acquired <owner>"
  kahuna unlock RESOURCE --owner O              prints "f<token> unlocked"
  kahuna extend-lock RESOURCE EXPIRES_MS --owner O
                                                prints "f<token> extended <owner>"
  kahuna lock RESOURCE EXPIRES_MS --limit N     take one of N shared places (a semaphore;
                                                --shared alone: up to 1000, readers); the
                                                lock without the flags excludes them all
  kahuna get-lock RESOURCE                      prints "f<token> <owner>" (a line per
                                                holder of a shared lock)
  kahuna lock RESOURCE EXPIRES_MS [--wait 30s] [--kill-after 10s] -- COMMAND [ARGS...]
                                                run COMMAND holding the lock, renewed every
                                                third of EXPIRES_MS; its environment has
                                                KAHUNA_FENCING_TOKEN and KAHUNA_OWNER. Exit
                                                status: COMMAND's, 75 not acquired, 124 lost
                                                (COMMAND got SIGTERM, SIGKILL after
                                                --kill-after), 126/127 could not run it
  kahuna watch RESOURCE [--after CURSOR] [--count N]
                                                print the lock's state, then each change of
                                                holder as it happens: "acquired <owner>
                                                token <T> lease <MS> ms cursor <C>",
                                                released, expired; until --count lines,
                                                Ctrl-C (130) or no server reachable (3)
  kahuna elect NAME VALUE [--lease 10s] [--wait D] [-- COMMAND [ARGS...]]
                                                campaign to lead NAME, waiting in line;
                                                prints "elected <value> term <T> (owner
                                                <id>)", then leads until Ctrl-C (resigns,
                                                0) or lost (124); with COMMAND, runs it
                                                while leading, as lock -- COMMAND does;
                                                75 when --wait passed first
  kahuna elect --observe NAME [--count N]       print who leads, then each change:
                                                "leader <value> term <T> (owner <id>)" or
                                                "no leader"

  Options of every lock command:
    --ephemeral        the ephemeral lock of that name (default: persistent)
    --server URL       server(s) to ask, comma-separated or repeated; default
                       $KAHUNA_SERVER, else http://127.0.0.1:2070
    --token TOKEN      the client token for a server with --auth-file; default
                       $KAHUNA_TOKEN (safer: a flag shows in ps)
    --ca FILE          the CA of https servers' certificates; default $KAHUNA_CA
    --timeout 5s       limit on the whole command, retries included (500ms, 5s, 2500)
    --format json      print one JSON object instead of the text line; errors too, as one
                       JSON object on stderr

Seed form (invoked as kahuna-cli, or as "kahuna cli"):
  kahuna-cli --lock R --expires MS [--owner O]
  kahuna-cli --unlock-lock R --owner O          (alias --unlock)
  kahuna-cli --extend-lock R --owner O --expires MS
  kahuna-cli --get-lock R
  kahuna-cli                                    interactive shell: lock R MS, unlock R,
                                                extend-lock R MS, get-lock R, elock, eunlock,
                                                eextend-lock, eget-lock, history, help, exit
                                                (quote names with spaces: lock "a b" 1000;
                                                Tab completes; Ctrl-C clears the line, or
                                                cancels a request, releases and exits 130)

Server:
  kahuna serve [flags]   run a node; with no flags a single-node cluster on port 2070
    --node-id ID                  this node's id (default 1)            KAHUNA_NODE_ID
    --host ADDR                   address to listen on (127.0.0.1)      KAHUNA_HOST
    --http-port N                 REST port (2070)                      KAHUNA_HTTP_PORT
    --peer-port N                 port for other nodes (HTTP + 1)       KAHUNA_PEER_PORT
    --binary-port N               binary client protocol (HTTP + 2)     KAHUNA_BINARY_PORT
    --data-dir DIR                where data is kept (./data); one      KAHUNA_DATA_DIR
                                  process per directory (DIR/LOCK)
    --initial-cluster ID=HOST:PORT,...  every node's peer address      KAHUNA_INITIAL_CLUSTER
    --partitions N                Raft groups (16)                      KAHUNA_PARTITIONS
    --quiet                       no log lines on stderr                KAHUNA_QUIET=1
    --tls-cert FILE --tls-key FILE  HTTPS and binary over TLS           KAHUNA_TLS_CERT, …
    --peer-ca FILE                mutual TLS between nodes              KAHUNA_PEER_CA
    --auth-file FILE              accept only the clients it lists      KAHUNA_AUTH_FILE
    --insecure                    listen beyond loopback without TLS    KAHUNA_INSECURE=1
                                  and --auth-file (refused otherwise)
  A flag wins over its environment variable. Ctrl-C (SIGINT) or SIGTERM stops it cleanly;
  SIGHUP reloads the certificates and the auth file.
  kahuna repair --data-dir DIR
                         mend the log of a stopped node that refuses to start because
                         records of some partitions are damaged: their logs are dropped,
                         and their leaders re-seed the node (docs/reliability.md)

Client tokens (docs/security.md):
  kahuna auth add NAME --file FILE [--prefix P]... [--read-only] [--admin]
                         add a client to an auth file; prints its token, once
  kahuna auth list --file FILE      the clients and what they may do
  kahuna auth remove NAME --file FILE

Benchmark (docs/performance.md):
  kahuna bench [lock-unlock|contended|extend|get] [--durability persistent|ephemeral]
               [--concurrency 64] [--duration 10s] [--keyspace N] [--protocol binary|rest]
               [--server ADDR,...] [--json]
  kahuna bench --help lists every flag.

kahuna help | --help    this text
kahuna version | --version
                        the version, the git revision it was built from and the runtime`;

export const shellHelp = [
  "lock R MS          take persistent lock R for MS milliseconds",
  "unlock R           release persistent lock R",
  "extend-lock R MS   renew persistent lock R for MS milliseconds",
  "get-lock R         show who holds persistent lock R",
  "elock, eunlock, eextend-lock, eget-lock   the same on ephemeral locks",
  "history            the commands entered so far, this run and earlier ones",
  "help               this text",
  "exit               release the locks this session holds and leave (also Ctrl-D)",
  'quote a resource with spaces: lock "a b" 1000; Tab completes commands and held resources',
  "Ctrl-C clears the line; during a request it cancels it, releases the locks and leaves",
].join("\n");
