# Sourced by each recipe's run.sh after it sets its defaults (Kaldi's utils/parse_options.sh idiom):
# "--some-name VALUE" sets the variable some_name, which the recipe must have defined (lower case); "--" ends the
# options and leaves the rest in "$@" for the recipe. An unknown option is an error (exit 2).
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    --*)
      name=${1#--}; name=${name//-/_}
      if [[ ! $name =~ ^[a-z][a-z0-9_]*$ ]] || [ "$name" = name ] || ! declare -p "$name" >/dev/null 2>&1; then
        echo "run.sh: unknown option $1" >&2; exit 2
      fi
      if [ $# -lt 2 ]; then echo "run.sh: option $1 needs a value" >&2; exit 2; fi
      printf -v "$name" '%s' "$2"; shift 2 ;;
    *) echo "run.sh: unexpected argument $1 (options are --name value; extra arguments go after --)" >&2; exit 2 ;;
  esac
done
