# Sourced by the test scripts that need an Apache Kafka broker: fetches the broker's jars once
# and exports KAFKA_JARS, the folder the tests put on the JVM's classpath (tests/support/kafka.rs
# formats a KRaft storage and starts `kafka.Kafka` from it).
#
# The version is the one docker-compose.yml runs (`image: apache/kafka:<version>`), so the tests
# and `make up` use one broker. The jars come from Maven Central through tests/support/kafka/pom.xml
# (`mvn dependency:copy-dependencies`) into ~/.cache/websocketchat/kafka-<version>/jars (or under
# $XDG_CACHE_HOME), reused while it was made from the same pom: about 55 MB, 15 s the first time.
# Needs Java 17 or newer and Maven; installs Debian's openjdk-17-jre-headless and maven when
# missing (as root).
kafka_support="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="$(sed -n 's|^ *image: *apache/kafka:\([0-9][0-9.]*\) *$|\1|p' "$kafka_support/../../docker-compose.yml")"
if [[ -z "$KAFKA_VERSION" ]]; then
    echo "kafka.sh: no apache/kafka:<version> image in docker-compose.yml" >&2
    return 1 2>/dev/null || exit 1
fi
KAFKA_JARS="${XDG_CACHE_HOME:-$HOME/.cache}/websocketchat/kafka-$KAFKA_VERSION/jars"
# The cache holds the pom it was made from: another pom (other jars) makes it anew.
if ! cmp -s "$kafka_support/kafka/pom.xml" "$KAFKA_JARS/../pom.xml" \
    || [[ ! -f "$KAFKA_JARS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    kafka_apt=()
    command -v java >/dev/null || kafka_apt+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || kafka_apt+=(maven)
    if ((${#kafka_apt[@]})); then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${kafka_apt[@]}"
    fi
    # Into a fresh folder first, so an interrupted fetch leaves no half-filled cache behind.
    rm -rf "$KAFKA_JARS.partial"
    echo "kafka.sh: fetching the jars of Apache Kafka $KAFKA_VERSION into $KAFKA_JARS" >&2
    if ! kafka_mvn=$(mvn -q -B -f "$kafka_support/kafka/pom.xml" dependency:copy-dependencies \
        -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime \
        -DoutputDirectory="$KAFKA_JARS.partial" 2>&1); then
        echo "$kafka_mvn" >&2
        return 1 2>/dev/null || exit 1
    fi
    rm -rf "$KAFKA_JARS"
    mv "$KAFKA_JARS.partial" "$KAFKA_JARS"
    cp "$kafka_support/kafka/pom.xml" "$KAFKA_JARS/../pom.xml"
fi
# How the tests start the broker (tests/support/kafka.rs has the same): the cluster id the
# apache/kafka image formats with when CLUSTER_ID is not set, and kafka-run-class.sh's JVM options
# with a 512 MiB heap (kafka-server-start.sh gives 1 GiB).
KAFKA_CLUSTER_ID=5L6g3nShT-eMCtK--X86sw
KAFKA_JVM_OPTS="-Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true"
export KAFKA_VERSION KAFKA_JARS KAFKA_CLUSTER_ID KAFKA_JVM_OPTS
