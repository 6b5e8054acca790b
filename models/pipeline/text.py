"""Korean text for synthesis: carrier sentences, ordinary complaint-call sentences, babble, shuffled words."""

from __future__ import annotations

import functools
import random
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KEYWORDS_FILE = Path(__file__).resolve().parent.parent / "keywords.toml"


@dataclass(frozen=True)
class Group:
    """One keyword group: a model output mapped to a category."""

    id: str
    category: str
    say: tuple[str, ...]


def load_keywords(
    path: Path = KEYWORDS_FILE, *, training: bool = False, confusions: bool = False
) -> tuple[list[Group], list[str]]:
    """Keyword groups and near-miss phrases from the editable keyword file.

    ``training`` adds the train-only near-misses; the held-out sets keep the shared list, so they render
    the same whatever is added for training. ``confusions`` (with ``training``) adds the stage-16 list after
    them, for the pools of the unheard mix only, so the earlier stages' pools render as they did.
    """
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    groups = [Group(g["id"], g["category"], tuple(g["say"])) for g in data["group"]]
    near = data.get("near_misses", {})
    words = list(near.get("words", []))
    if training:
        words += near.get("train_only", [])
        if confusions:
            words += near.get("confusions", [])
    return groups, words


# Carriers around a keyword; {k} is the keyword. Split by index into train / test so the test carriers
# are sentences the model never heard.
CARRIERS = [
    "{k}",
    "야 {k}",
    "{k} 진짜",
    "너 {k}",
    "이 {k}",
    "아니 {k}",
    "{k} 뭐하는 거야",
    "당신 {k}",
    "일을 이따위로 하냐 {k}",
    "{k} 전화 똑바로 받아",
    "구청 공무원이 {k}",
    "어휴 {k}",
    "야 이 {k}",
    "내가 누군 줄 알고 {k}",
    "{k} 빨리 처리해",
    "세금 받아 먹으면서 {k}",
    "너네 {k}",
    "그러니까 {k}",
    "왜 말을 못 알아들어 {k}",
    "담당자 바꿔 {k}",
    "{k} 알았어",
    "다 {k}",
    "어디서 {k}",
    "민원 처리를 이렇게 해 {k}",
    "지금 장난해 {k}",
    "한 번만 더 그러면 {k}",
    "아 진짜 {k}",
    "{k} 몇 번을 말해",
    "거기 주소 알아 {k}",
    "전화 끊지 마 {k}",
    "{k} 두고 봐",
    "너 이름 뭐야 {k}",
]

_PLACES = [
    "종로구",
    "중구",
    "용산구",
    "성동구",
    "광진구",
    "마포구",
    "서초구",
    "강남구",
    "송파구",
    "노원구",
    "수원시",
    "남구",
    "북구",
    "동구",
    "해운대구",
    "유성구",
    "덕진구",
    "청주시",
    "천안시",
]
_DONGS = [
    "신당동",
    "명동",
    "이태원동",
    "왕십리동",
    "행당동",
    "합정동",
    "서교동",
    "반포동",
    "역삼동",
    "잠실동",
    "상계동",
    "주안동",
    "봉선동",
    "월곡동",
    "대명동",
    "만덕동",
    "송도동",
    "구월동",
]
_SERVICES = [
    "주민등록등본",
    "가족관계증명서",
    "인감증명서",
    "전입신고",
    "여권 발급",
    "기초연금 신청",
    "주차 위반 과태료",
    "대형 폐기물 스티커",
    "건축물대장",
    "토지대장",
    "출생신고",
    "사망신고",
    "혼인신고",
    "장애인 등록",
    "복지 카드",
    "재산세 고지서",
    "자동차세",
    "쓰레기 수거",
    "불법 주차 신고",
    "가로등 고장",
    "도로 파손",
    "소음 민원",
    "누수 민원",
    "어린이집 입소",
    "청년 월세 지원",
    "긴급 복지 지원",
    "경로당 이용",
    "예방 접종",
    "반려견 등록",
    "무인 민원 발급기",
]
_NAMES = [
    "김민수",
    "이영희",
    "박지훈",
    "최수진",
    "정우성",
    "강하늘",
    "조은비",
    "윤서준",
    "장미란",
    "임재현",
    "한지민",
    "오세훈",
    "서지수",
    "신동엽",
    "권나라",
    "황보람",
    "안재홍",
    "송민호",
]
_TIMES = [
    "오전 아홉 시",
    "열 시 반",
    "점심시간",
    "오후 두 시",
    "세 시쯤",
    "다섯 시 전에",
    "내일 아침",
    "다음 주 월요일",
    "이번 주 금요일",
    "모레",
    "어제 오후",
    "지난달",
]
_NUMBERS = [
    "공일공 일이삼사 오육칠팔",
    "010-2345-6789",
    "02-2260-1234",
    "백이십삼 번지",
    "삼백 원",
    "만 오천 원",
    "이십만 원",
    "1588-0000",
    "12월 25일",
    "2026년 3월 1일",
    "십오 일",
    "사십칠 세",
    "일곱 장",
    "두 통",
    "세 번째",
    "열한 번",
    "101동 1203호",
    "삼십 분",
    "두 시간",
    "팔월 십팔 일",
]

# Ordinary sentences of complaint calls; slots filled at random. Also split by index train / test.
TEMPLATES = [
    "안녕하세요 {s} 때문에 전화드렸어요",
    "{s} 발급하려면 뭐가 필요한가요",
    "{p} {d} 주민센터 맞죠",
    "{t}에 방문해도 되나요",
    "제 전화번호는 {n} 입니다",
    "{s} 신청했는데 아직 연락이 없어요",
    "담당자분 성함이 어떻게 되세요",
    "{name} 씨 계신가요",
    "주소는 {p} {d} {n} 이에요",
    "몇 번을 전화했는데 계속 안 받으시더라고요",
    "이거 언제까지 처리되는 거예요",
    "{s} 수수료가 얼마예요",
    "아 네 잘 알겠습니다 감사합니다",
    "좀 빨리 처리해 주세요 정말 급해서요",
    "지난번에 말씀드린 {s} 건인데요",
    "{t}까지 서류를 내야 하거든요",
    "온라인으로도 {s} 할 수 있나요",
    "저희 어머니가 {s} 문의하셨는데요",
    "집 앞에 {s} 문제가 너무 심해요",
    "아니 그게 아니고요 제 말 좀 들어보세요",
    "네 여보세요 잘 안 들려요",
    "다시 한 번 말씀해 주시겠어요",
    "{n} 으로 문자 보내 주세요",
    "{s} 관련해서 불만이 있습니다",
    "처리가 너무 늦어서 화가 나네요",
    "이게 말이 됩니까 정말 답답하네요",
    "책임자 좀 바꿔 주세요",
    "제가 {t} 에 갔었는데 문이 닫혀 있었어요",
    "{p} 청에 민원 넣을 거예요",
    "신분증 가져가면 되죠",
    "대리인이 가도 되나요 위임장 필요해요",
    "{name} 주무관님 통해서 들었어요",
    "우리 아파트 {n} 인데요",
    "{s} 결과가 나왔다고 해서 전화했어요",
    "수고 많으십니다 하나만 여쭤볼게요",
    "그럼 {t} 에 다시 전화할게요",
    "혹시 주차는 어디에 하면 되나요",
    "엘리베이터가 고장 나서 계단으로 가야 하나요",
    "민원실 위치가 어디예요",
    "{s} 서류 팩스로 보내도 되나요",
    "팩스 번호가 {n} 맞나요",
    "제 이름은 {name} 이고요 생년월일은 {n} 입니다",
    "정말 너무하시네요 이렇게 오래 기다리게 하고",
    "아이고 감사합니다 덕분에 해결했어요",
    "혹시 {s} 도 같이 할 수 있을까요",
    "그건 제가 잘 모르겠는데 확인해 주세요",
    "오늘 안에 꼭 처리해 주세요",
    "작년에도 똑같은 문제로 전화했었어요",
    "{p} 에서 이사 왔는데 {s} 어떻게 해요",
    "아 그러니까 결론이 뭐예요",
    "그럼 다음 주에 다시 올게요",
    "이번 달 {s} 금액이 이상해요",
    "창구에서 {n} 번 번호표 받았어요",
    "우리 동네 {s} 좀 어떻게 해 주세요",
    "밤마다 소음 때문에 잠을 못 자요",
    "옆집 개가 계속 짖어요",
    "도로에 구멍이 크게 났어요 위험해요",
    "쓰레기를 아무 데나 버려요",
    "가로등이 {t} 부터 꺼져 있어요",
]

# More everyday sentences of calls to a 주민센터, written in one go before any was scored:
# the even ones train, the odd ones are the "fresh" stream, a false-accept check on sentence types that
# neither training nor threshold choice has heard (TEMPLATES' held-out quarter is only 14 sentence types,
# and a few of their words decide some classes' thresholds). Kept apart from TEMPLATES so that its split,
# and with it every dev and test set, stays as it was.
MORE_TEMPLATES = [
    "{s} 신청 기간이 언제까지예요",
    "어제 {t}에 전화 드렸던 사람인데요",
    "{s} 때문에 직접 가야 하나요",
    "인터넷으로 하려는데 자꾸 오류가 나요",
    "제가 나이가 많아서 잘 몰라서 그러는데요",
    "{name} 씨 자리에 안 계세요",
    "서류를 잃어버렸는데 다시 발급받을 수 있나요",
    "{p} {d} 쪽에 물이 새요",
    "주말에도 문 여나요",
    "점심시간에는 업무 안 하시나요",
    "아까 통화한 분 좀 바꿔 주세요",
    "번호표 뽑고 한 시간째 기다리고 있어요",
    "{s} 지원금은 언제 들어와요",
    "우편으로 받을 수 있을까요",
    "등본 떼려면 얼마 들어요",
    "카드 결제도 되나요",
    "현금만 받으시나요",
    "제 딸이 대신 가도 될까요",
    "전입신고는 며칠 안에 해야 돼요",
    "저번에도 똑같이 말씀하셨잖아요",
    "문자로 안내 받았는데 무슨 뜻인지 모르겠어요",
    "{t}쯤 도착할 것 같아요",
    "주차 딱지가 잘못 붙었어요",
    "불법 주차 신고하려고요",
    "공원 화장실이 너무 더러워요",
    "눈이 와서 길이 미끄러워요 제설 좀 해 주세요",
    "보일러가 안 돼서 너무 추워요",
    "경로당 프로그램 신청하고 싶어요",
    "아이 돌봄 서비스 문의 좀 드릴게요",
    "이사 가는데 뭐부터 해야 돼요",
    "기다리라고만 하시니까 답답하죠",
    "왜 이렇게 전화 연결이 안 돼요",
    "제가 몇 번이나 말씀드렸잖아요",
    "아니 그러면 어디로 전화해야 돼요",
    "담당 부서 번호 좀 알려 주세요",
    "확인해 보고 다시 연락 주세요",
    "{n} 번으로 연락 주시면 돼요",
    "신청서에 도장 찍어야 되나요",
    "사진은 몇 장 필요해요",
    "잘 모르겠으면 그냥 직접 갈게요",
    "할머니 혼자 사시는데 도움 받을 수 있을까요",
    "쓰레기 봉투는 어디서 사요",
    "음식물 쓰레기 수거일이 언제예요",
    "대형 폐기물 스티커 붙였는데 안 가져가요",
    "위층 발소리 때문에 미치겠어요",
    "길고양이 밥 주는 문제로 싸움이 났어요",
    "가로수 가지가 창문을 막아요",
    "놀이터 그네가 부서졌어요",
    "횡단보도 신호등이 고장 났어요",
    "버스 정류장 의자가 없어졌어요",
    "투표소가 어디인지 알고 싶어요",
    "여권 찾으러 언제 가면 돼요",
    "인감 도장을 새로 만들었어요",
    "주민등록증을 잃어버렸어요",
    "재발급 비용이 얼마나 들어요",
    "기초생활수급 자격이 되는지 궁금해요",
    "어머니가 치매가 있으셔서요",
    "휠체어 대여도 하시나요",
    "말씀이 너무 빨라서 못 알아들었어요",
    "천천히 한 번만 더 설명해 주세요",
    "그럼 그렇게 알고 있을게요",
    "네 수고하세요",
    "혹시 영어 하시는 분 계세요",
    "외국인 등록도 여기서 되나요",
    "우리 애가 학교에서 서류를 달래요",
    "지난주에 낸 서류 처리됐나요",
    "접수 번호가 {n} 이에요",
    "아직도 처리 중이라고 나와요",
    "이 정도면 민원 넣어도 되는 거죠",
    "구청에 직접 얘기할까요",
    "{p} 복지관 전화번호 아세요",
    "무료로 받을 수 있는 거 맞죠",
    "저 말고 다른 사람들도 다 불편해해요",
    "아 진짜 너무 힘들어요",
    "죄송한데 제가 지금 운전 중이라서요",
    "조금 있다가 다시 걸게요",
    "목이 아파서 목소리가 잘 안 나와요",
    "몸이 불편하셔서 방문이 어려워요",
    "자고 일어났더니 집 앞에 차가 막고 있어요",
    "같이 사는 가족이 몇 명인지 적어야 돼요",
]

# Everyday sentences of citizens on the phone, wider than complaint calls (being passed around, papers,
# welfare, neighbours, streets, health and family, upset but not abusive, thanks and small talk, numbers),
# written in one go before any was scored (stage 15). Split like TEMPLATES: every fourth is the "everyday"
# stream, sentence types nothing trains on (a false-accept check at first; since stage 15's shipped
# thresholds, pooled into dev to price them); the rest join training only through the pools' "everyday"
# mix, so every earlier set and pool stays as it was.
EVERYDAY_TEMPLATES = [
    # Answering, hearing, being passed around
    "여보세요 거기 {p} {d} 주민센터죠",
    "네 저 {name} 이라고 하는데요",
    "잠깐만요 메모 좀 하고요",
    "소리가 자꾸 끊겨요 다시 말씀해 주세요",
    "지금 통화 괜찮으세요",
    "아까 전화를 받으셨던 분이 누구셨죠",
    "연결해 주신다고 하고 한참을 기다렸어요",
    "계속 통화 중이길래 이제야 걸었어요",
    "혹시 내선 번호 알 수 있을까요",
    "제가 귀가 어두워서 크게 말씀해 주세요",
    "말씀 중에 죄송한데 하나만 물어볼게요",
    "네 네 듣고 있어요 계속 말씀하세요",
    "끊지 마시고 잠시만 기다려 주세요",
    "전화가 왜 이렇게 안 되는 거예요",
    "담당자분이 자리에 오시면 전화 좀 달라고 해 주세요",
    "제 번호 남겨 드릴게요 {n} 이요",
    "지금 밖이라서 시끄러워요 이해해 주세요",
    "아 그분 오늘 휴가세요",
    "아니요 제가 찾는 건 그게 아니라서요",
    "네 알겠어요 그럼 기다릴게요",
    # Papers, certificates, procedures
    "가족관계증명서 떼려면 뭐 가져가야 돼요",
    "초본에 주소 변동 내역도 나오게 해 주세요",
    "인감증명서는 본인이 꼭 와야 되나요",
    "위임장 양식은 어디서 받아요",
    "무인 발급기는 몇 시까지 돼요",
    "정부24에서 하다가 막혔어요",
    "공인인증서가 만료돼서 안 된대요",
    "출생신고 하러 가려는데 준비물이 뭐예요",
    "사망신고는 어디서 하는 건가요",
    "혼인신고 서류에 증인이 두 명 필요하다면서요",
    "전입신고를 깜빡하고 못 했어요 과태료 나오나요",
    "세대주 변경하려면 어떻게 해요",
    "확정일자 받으러 가도 되나요",
    "임대차 계약서 원본을 들고 가야 해요",
    "주민등록번호 뒷자리는 가리고 보내도 되죠",
    "서명을 해야 하는데 손이 떨려서 못 써요",
    "복사는 거기서도 해 주시나요",
    "사본으로 내도 괜찮은가요",
    "발급 수수료는 카드로 낼게요",
    "영문으로 된 서류도 뽑을 수 있나요",
    "서류에 이름 한 글자가 틀리게 나와요",
    "개명했는데 등본에 예전 이름이 나와요",
    "도장 대신 지장 찍어도 되죠",
    "신청서를 다 썼는데 어디에 내요",
    "온라인 접수했는데 접수가 안 됐다고 떠요",
    "처리 기간이 보통 며칠 걸려요",
    "결과는 문자로 오는 거예요 우편으로 오는 거예요",
    "제가 낸 서류가 분실됐다는 게 말이 돼요",
    "번호표 기계가 고장이래요",
    "창구가 하나밖에 안 열려 있어요",
    # Welfare and support
    "기초연금 신청은 언제부터 할 수 있어요",
    "장애인 등록 갱신 때문에 연락드렸어요",
    "긴급 생계비 지원 받을 수 있는지 알고 싶어요",
    "월세가 밀려서 너무 걱정이에요",
    "에너지 바우처는 올해도 나오나요",
    "출산 축하금이 아직 안 들어왔어요",
    "아동 수당 계좌를 바꾸고 싶어요",
    "노인 일자리 신청 마감됐나요",
    "혼자 사시는 어르신 안부 확인 좀 부탁드려요",
    "도시락 배달 서비스가 끊겼어요",
    "방문 간호사 선생님이 이번 주에 안 오셨어요",
    "복지 담당 선생님과 상담하고 싶어요",
    "소득 조사 서류를 또 내야 하나요",
    "통장 사본이랑 신분증 사본 보내면 돼요",
    "자격이 안 된다고 하시는데 이유를 모르겠어요",
    "지원금이 왜 깎였는지 설명해 주세요",
    "작년보다 금액이 줄었더라고요",
    "병원비가 너무 많이 나와서 도움이 필요해요",
    "쌀 나눠 주는 거 이번 달에도 하나요",
    "김장 나눔 행사 자원봉사 하고 싶어요",
    "한부모 가정 지원도 여기서 신청해요",
    "다문화 가족 한국어 교실이 있다고 들었어요",
    "치매 검사는 보건소로 가면 돼요",
    "독감 예방 주사 무료로 맞을 수 있나요",
    "우리 아버지가 거동을 못 하셔서요",
    # Neighbours, noise, parking, rubbish, animals
    "윗집에서 새벽마다 쿵쿵거려요",
    "옆집 공사 소리 때문에 애가 잠을 못 자요",
    "주말 아침부터 드릴 소리가 나요",
    "밤늦게 술 마시고 노래를 불러요",
    "담배 연기가 창문으로 계속 들어와요",
    "계단에 자전거를 세워 놔서 지나갈 수가 없어요",
    "남의 집 앞에 차를 대 놓고 연락이 안 돼요",
    "장애인 주차 구역에 아무나 세워요",
    "골목에 차가 너무 빨리 달려요 과속 방지턱 좀 만들어 주세요",
    "분리수거를 제대로 안 해서 냄새가 나요",
    "재활용 쓰레기를 언제 내놓는 거예요",
    "쓰레기 무단 투기하는 사람을 봤어요",
    "누가 가구를 길에 버리고 갔어요",
    "비둘기가 베란다에 둥지를 틀었어요",
    "개를 풀어놓고 다녀서 아이들이 무서워해요",
    "강아지 배설물을 안 치우고 가요",
    "들개가 몇 마리 돌아다녀요",
    "벌집이 생겼는데 어디에 신고해요",
    "쥐가 나와요 방역 좀 해 주세요",
    "모기가 너무 많아서 소독해 주셨으면 해요",
    "공사 차량이 새벽부터 들어와요",
    "상가 간판 불빛이 너무 밝아서 잠을 못 자요",
    "확성기로 물건 파는 소리가 너무 커요",
    "교회 앞 주차 때문에 일요일마다 난리예요",
    "이웃끼리 말다툼이 심해서 중재 좀 해 주세요",
    "경비 아저씨가 택배를 안 받아 주세요",
    "관리비가 갑자기 올랐어요",
    "엘리베이터 점검한다고 하루 종일 멈춰 있어요",
    "아파트 물탱크 청소는 언제 해요",
    "복도에 물건을 쌓아 놔서 불나면 위험해요",
    # Streets, facilities, weather
    "인도 블록이 깨져서 할머니가 넘어지셨어요",
    "맨홀 뚜껑이 덜컹거려요",
    "빗물이 빠지지 않고 고여 있어요",
    "하수구에서 냄새가 올라와요",
    "태풍에 간판이 떨어질 것 같아요",
    "눈이 얼어서 언덕길을 못 올라가요",
    "염화칼슘 좀 뿌려 주세요",
    "공원 운동 기구가 망가졌어요",
    "산책로 가로등이 다 나갔어요",
    "버스가 노선을 바꿨는지 안 와요",
    "마을버스 배차 간격이 너무 길어요",
    "신호등 시간이 짧아서 어르신들이 못 건너요",
    "어린이 보호구역 표시가 다 지워졌어요",
    "정자에 노숙하시는 분이 계세요",
    "폭염 쉼터는 몇 시까지 열어요",
    "무더위에 에어컨이 고장 나서 큰일이에요",
    "단수 안내를 못 받았어요",
    "정전이 됐는데 언제 복구돼요",
    "가스 냄새가 나는 것 같아요",
    "도서관 휴관일이 언제예요",
    # Health, family, daily life
    "어머니가 입원하셔서 대신 전화드렸어요",
    "남편이 아파서 제가 대신 왔어요",
    "아들이 군대에 가 있어서요",
    "손주를 제가 키우고 있거든요",
    "허리가 아파서 오래 못 서 있어요",
    "다리를 다쳐서 계단을 못 올라가요",
    "눈이 침침해서 글씨가 안 보여요",
    "약을 먹었더니 자꾸 졸려요",
    "요즘 잠을 통 못 자서 정신이 없어요",
    "배고파 죽겠는데 점심 먹고 다시 걸게요",
    "더워 죽겠어요 빨리 좀 해 주세요",
    "애들 학교 끝나기 전에 가야 돼요",
    "퇴근하고 가면 이미 문 닫았더라고요",
    "직장 때문에 평일에는 시간이 없어요",
    "이사 온 지 얼마 안 돼서 잘 몰라요",
    "시골에서 올라와서 여기 사정을 몰라요",
    "우리 집 양반이 고집이 세서요",
    "딸이 해외에 있어서 서류를 대신 떼 줘야 해요",
    "어제 손녀 돌잔치가 있었어요",
    "오늘 장날이라 길이 많이 막히네요",
    "비가 와서 가는 길이 미끄럽네요",
    "날이 추워서 나가기가 겁나요",
    "감기 걸려서 목소리가 이상하죠",
    "요즘 물가가 너무 올라서 힘들어요",
    "가스비가 두 배로 나왔어요",
    # Upset but not abusive
    "도대체 몇 번을 설명해야 되는지 모르겠네요",
    "이게 벌써 세 번째 전화예요",
    "그쪽에서 잘못 안내해서 헛걸음했잖아요",
    "제가 지금 화가 나서 그래요 이해해 주세요",
    "정말 어이가 없네요",
    "말도 안 되는 소리 하지 마세요",
    "왜 자꾸 다른 데로 떠넘기세요",
    "공무원이면 책임지고 해결해 주셔야죠",
    "이러니까 사람들이 불평을 하는 거예요",
    "기분이 너무 나쁘네요 사과하세요",
    "저 지금 녹음하고 있어요",
    "국민신문고에 올릴 거예요",
    "언론에 제보하겠습니다",
    "시장님한테 직접 얘기할 거예요",
    "내가 세금 꼬박꼬박 내는데 이게 뭐예요",
    "아 진짜 짜증 나네 왜 이렇게 복잡해요",
    "대충 하지 말고 제대로 좀 봐 주세요",
    "이렇게 일을 하시면 어떡해요",
    "아니 그 말이 아니잖아요",
    "그러니까 안 된다는 거예요 된다는 거예요",
    "됐어요 그냥 제가 알아서 할게요",
    "나 참 기가 막혀서",
    "제 말을 왜 끊으세요",
    "목소리 좀 낮춰서 말씀하세요",
    "정말 너무 억울해요",
    "울고 싶은 심정이에요",
    "한두 번도 아니고 매번 이래요",
    "이건 직무 유기 아니에요",
    "규정이 그렇다는 말만 하지 마시고요",
    "높은 분 바꿔 달라니까요",
    # Thanks, small talk, confirmations
    "친절하게 설명해 주셔서 고마워요",
    "덕분에 일이 잘 풀렸어요",
    "바쁘신데 시간 뺏어서 미안해요",
    "새해 복 많이 받으세요",
    "추석 연휴에도 문 여나요",
    "그럼 그날 뵐게요",
    "제가 적은 게 맞는지 한 번만 불러 주세요",
    "아 그렇구나 몰랐네요",
    "그게 다예요 더 필요한 건 없고요",
    "네 맞아요 그렇게 해 주세요",
    "어 잠깐만 누가 왔어요",
    "음 그러니까 제 말은요",
    "저기요 제 말 들리세요",
    "뭐라고 하셨어요 다시 한번만요",
    "네 네 알았어요 수고하세요",
    "아 그래요 그럼 할 수 없죠",
    "이따가 {t} 에 들를게요",
    "{t} 전까지는 꼭 가겠습니다",
    "오늘은 몇 시에 끝나세요",
    "줄 서 있는 사람이 많나요",
    # Numbers, dates, names
    "계좌번호 불러 드릴게요 {n}",
    "생년월일이 {n} 이고요",
    "{name} 님 앞으로 된 우편물이 왔어요",
    "{n} 에 사는 사람인데요",
    "{t} 에 예약했던 {name} 입니다",
    "접수증에 적힌 번호가 {n} 이에요",
    "받는 사람 이름은 {name} 으로 해 주세요",
    "{d} 에서 {p} 로 이사 가요",
    "{s} 는 {t} 까지만 받는다면서요",
    "{s} 신청서 양식 좀 보내 주세요",
    "{s} 담당이 누구세요",
    "{s} 때문에 {t} 에 가도 될까요",
    "{p} {d} 에 {s} 는 어디로 가야 돼요",
    "{name} 씨한테 {n} 으로 연락 달라고 전해 주세요",
    "차 번호가 {n} 인데 견인됐대요",
    # Other matters a citizen calls about
    "투표할 때 신분증 뭐 가져가요",
    "선거 공보물이 안 왔어요",
    "재산세 고지서가 잘못 나온 것 같아요",
    "자동차세 연납 신청하려고요",
    "주민 자치 프로그램에 요가 반 있나요",
    "탁구 교실 신청이 벌써 마감됐대요",
    "문화센터 강좌 환불 받을 수 있나요",
    "청년 월세 지원은 나이 제한이 있어요",
    "취업 상담 받을 수 있는 곳이 있어요",
    "어린이집 대기 순번을 알고 싶어요",
    "방과 후 돌봄 교실 자리 있나요",
    "전동 킥보드가 길을 막고 있어요",
    "불법 현수막이 너무 많이 걸려 있어요",
    "빈집에 누가 드나드는 것 같아요",
    "헌 옷 수거함이 넘쳐요",
    "동네 축제 때 차량 통제하나요",
    "주민 회의는 어디서 해요",
    "통장님 연락처 좀 알려 주세요",
    "반상회 날짜가 바뀌었나요",
    "자원봉사 시간 확인서 발급해 주세요",
]

# Sentence types for a check only, written in one go after the everyday stream had been scored and before
# anything was scored on them: the "unheard" stream, for thresholds priced on the everyday stream as well
# (MODEL_CARD.md, "Everyday sentence types"). No threshold choice says them, and no training the shipped model
# had: only the pools' "unheard" mix does (stage 16, measured and not shipped; the later stream checks it).
UNHEARD_TEMPLATES = [
    "여기가 {d} 행정복지센터 맞나요",
    "전화 돌려 주신다더니 끊겼어요",
    "누구한테 물어봐야 할지 몰라서 일단 전화했어요",
    "상담원 연결은 몇 번 눌러요",
    "안내 방송만 계속 나오던데요",
    "아 네 방금 문자 받았어요",
    "혹시 제 목소리 잘 들리세요",
    "지금 버스 안이라 작게 말할게요",
    "번호를 잘못 누른 것 같네요 죄송합니다",
    "거기 팩스가 고장 났다던데 고쳐졌어요",
    "가족관계 등록부 정정 신청하려고요",
    "외국에 사는 동생 서류를 떼야 돼요",
    "본인 서명 사실 확인서가 뭐예요",
    "주소 이전하면 자동차 등록도 바뀌나요",
    "주민등록 사실 조사 나온다고 들었어요",
    "증명사진은 육 개월 이내 거여야 하죠",
    "발급받은 서류를 분실했는데 또 돈 내야 돼요",
    "이 서류는 유효 기간이 며칠이에요",
    "대리 수령 하려면 뭐가 있어야 돼요",
    "우편 접수하면 도착 확인은 어떻게 해요",
    "주거 급여 신청 결과가 언제 나와요",
    "난방비 지원 대상인지 확인해 주세요",
    "의료 급여 카드를 새로 받아야 한대요",
    "무료 급식소 위치 좀 알려 주세요",
    "장애인 콜택시 예약은 어디로 해요",
    "보청기 지원 사업이 있다던데요",
    "어르신 무료 이발 봉사 언제 와요",
    "산후 도우미 지원 받을 수 있나요",
    "긴급 돌봄이 필요해서 연락드렸습니다",
    "아버님이 요양 등급 판정을 받으셨어요",
    "앞집 화분이 복도를 다 막았어요",
    "공동 현관 비밀번호가 바뀌었는데 모르겠어요",
    "택배 도난이 자꾸 생겨요 방범 카메라 좀 달아 주세요",
    "주차장에 장기 방치 차량이 있어요",
    "밤새 개 짖는 소리에 한숨도 못 잤어요",
    "윗집 물이 새서 천장에 얼룩이 생겼어요",
    "음식점 환풍기 냄새가 집까지 들어와요",
    "공터에 풀이 너무 자라서 벌레가 많아요",
    "옥상에서 고기를 구워서 연기가 나요",
    "재활용 분리 배출 요일이 바뀌었나요",
    "학교 앞 도로에 불법 주정차가 심해요",
    "자전거 도로에 오토바이가 다녀요",
    "공사장 가림막이 쓰러질 것 같아요",
    "지하도에 물이 차서 못 지나가요",
    "배수로에 낙엽이 쌓여서 막혔어요",
    "버스 도착 알림판 글씨가 안 보여요",
    "새벽에 도로 청소차 소리가 너무 커요",
    "약수터 물 검사 결과 나왔나요",
    "공중화장실 휴지가 다 떨어졌어요",
    "한파 쉼터가 어디 있는지 알려 주세요",
    "며느리가 대신 전화를 드리는 건데요",
    "우리 영감이 병원에 오래 계셔서요",
    "아기가 울어서 잠깐만 기다려 주세요",
    "제가 요즘 깜빡깜빡해서 다시 여쭤봐요",
    "무릎 수술을 해서 걸어가기가 힘들어요",
    "혈압약 먹고 있어서 오래 못 기다려요",
    "퇴원하고 나서 처음 나가 보는 거예요",
    "딸 결혼식 때문에 서류가 필요해요",
    "이번에 손자가 초등학교에 들어가요",
    "날씨가 풀리면 그때 가 볼게요",
    "아니 이걸 또 처음부터 다시 하라고요",
    "전화할 때마다 말이 다 달라요",
    "그럼 여태까지 기다린 건 뭐예요",
    "저 같은 노인은 어떻게 하라는 거예요",
    "설명을 그렇게 하시면 누가 알아들어요",
    "한 시간째 붙잡혀 있는데 너무하네요",
    "제가 뭘 잘못했다고 이러세요",
    "이번이 마지막이라고 하셨잖아요",
    "좋게 말할 때 처리해 주세요",
    "진짜 이러다 병나겠어요",
    "아유 고생 많으시네요 날도 더운데",
    "늘 친절하게 해 주셔서 감사해요",
    "제가 괜히 큰소리 쳐서 미안해요",
    "네 그럼 그렇게 전달해 주세요",
    "한 번 더 확인차 전화드렸어요",
    "다음 달 {t} 에 다시 신청할게요",
    "{name} 팀장님이 전화 달라고 하셨다던데요",
    "{p} 쪽으로 가는 버스가 있나요",
    "{s} 접수는 {t} 부터라고 하던데 맞아요",
    "우리 집이 {n} 인데 {s} 대상인가요",
]

# Sentence types for a check only, written in one go on 2026-12-06, after the unheard stream had been scored and
# before anything was scored on them: the "later" stream, the clean check once stage 16 trains on the unheard
# types (MODEL_CARD.md, "Stage 16"). No training, no threshold choice and no pool says them.
LATER_TEMPLATES = [
    "정부 이십사 사이트에서 출력이 안 돼요",
    "휴대폰 본인 인증이 자꾸 실패로 떠요",
    "공동 인증서 비밀번호를 잊어버렸어요",
    "무인 발급기는 몇 시까지 쓸 수 있어요",
    "카드 결제도 되나요 현금이 없어서요",
    "영수증을 다시 뽑아 주실 수 있어요",
    "아까 창구에서 받은 번호표를 잃어버렸어요",
    "제 이름이 외자라서 자꾸 틀리게 나와요",
    "성이 이씨 말고 리씨로 되어 있어요",
    "생년월일 앞자리가 잘못 들어갔네요",
    "전입 신고는 이사하고 며칠 안에 해야 돼요",
    "전세 계약서에 확정 일자 받으려고요",
    "집주인이 연락이 안 돼서 답답해요",
    "원룸 관리비가 너무 많이 나와요",
    "보증금 돌려받는 문제로 상담하고 싶어요",
    "가게 앞에 입간판 세워도 되는 건가요",
    "영업 신고증을 새로 받아야 한다던데요",
    "상가 간판 교체 지원금이 있나요",
    "배달 오토바이가 인도로 막 다녀요",
    "편의점 앞에서 밤마다 술 마시고 떠들어요",
    "우리 애가 중학생인데 봉사 시간 채울 데 있나요",
    "방학 때 청소년 프로그램 하나요",
    "도서관 책 반납을 여기서 해도 돼요",
    "탁구 교실 수강료가 얼마예요",
    "노래 교실 다음 기수는 언제 모집해요",
    "컴퓨터 배우는 강좌가 있다고 들었어요",
    "투표소가 어디로 바뀌었는지 알려 주세요",
    "민방위 교육 통지서가 왔는데 날짜를 못 맞춰요",
    "예비군 훈련 연기는 어디서 해요",
    "독감 예방 접종 무료 대상인가요",
    "보건소 가는 셔틀버스가 있나요",
    "강아지 동물 등록을 하려고 하는데요",
    "길고양이 밥 주는 문제로 이웃이랑 다퉜어요",
    "잃어버린 지갑을 누가 주민센터에 맡겼대요",
    "길에서 주운 휴대폰을 가져다 드려도 될까요",
    "재산세 고지서가 두 번 날아왔어요",
    "자동차세 연납 신청은 언제까지예요",
    "체납된 게 있다고 문자가 왔는데 뭔지 모르겠어요",
    "이사 가면서 대형 폐기물 스티커를 샀는데 남았어요",
    "김장 쓰레기는 어떻게 버려요",
    "설 연휴에도 문 여나요",
    "추석 지나고 바로 가면 사람 많을까요",
    "눈이 많이 와서 골목에 염화칼슘 좀 뿌려 주세요",
    "장마 때마다 반지하에 물이 들어와요",
    "더워서 그런데 무더위 쉼터 어디예요",
    "보청기를 안 껴서 잘 안 들려요 크게 좀 해 주세요",
    "천천히 다시 한 번만 불러 주시겠어요",
    "잠깐만요 펜 좀 가져올게요",
    "적었어요 그 다음 번호가 뭐라고요",
    "끝자리가 {n} 맞죠",
    "{name} 씨 앞으로 온 등기를 제가 받아도 되나요",
    "{d} 에서 {p} 까지 걸어가면 얼마나 걸려요",
    "{s} 서류는 {t} 까지 내면 되는 거죠",
    "어제 오신 직원분이 정말 친절하셨어요",
    "덕분에 일이 잘 해결됐어요 고마워요",
    "수고하세요 다음에 또 연락드릴게요",
    "바쁘신데 길게 얘기해서 죄송해요",
    "아 그렇구나 제가 잘못 알고 있었네요",
    "어머 벌써 시간이 이렇게 됐네",
    "그냥 물어볼 사람이 없어서 전화했어",
    "우리 아들이 외국에 있어서 혼자 살아요",
    "요즘은 밥맛도 없고 잠도 안 와요",
    "남편이 돌아가시고 나서 서류 정리를 못 했어요",
    "장례 치르고 나서 사망 신고 하려고요",
    "아이 출생 신고는 아빠 혼자 가도 돼요",
    "혼인 신고서에 증인 두 명이 필요하죠",
    "외국인 등록증 주소 변경도 여기서 해요",
    "한국말이 서툴러서 천천히 부탁드려요",
    "통역해 주시는 분이 계신가요",
    "아니 내가 몇 번이나 말했는데 왜 안 고쳐져요",
    "이거 민원 넣으면 누가 처리해요",
    "담당자분 성함 좀 알려 주세요 적어 놓게요",
    "계속 이런 식이면 구청에 직접 갈 거예요",
    "화가 나서 그러는데 윗분 좀 바꿔 주세요",
    "말씀을 왜 그렇게 기분 나쁘게 하세요",
    "저도 참을 만큼 참았어요",
    "알겠어요 일단 기다려 볼게요",
    "그러니까 결론이 된다는 거예요 안 된다는 거예요",
    "아이고 됐어요 제가 이따 다시 걸게요",
    "혹시 점심시간에도 업무 보시나요",
]
"""Sentence types of the later stream only (80): written after the unheard stream was scored; a check only."""

# Sentence types for a check only, written in one go on 2026-12-06, before anything was scored on them: the
# "heated" stream. Citizens who are upset, tired or worried but not abusive: the calls where a false warning
# would hurt most, with the everyday words that say so (죽겠다, 미치겠다, 열받다, 짜증, 기가 막히다 ...). No
# training, no pool and no threshold choice says them until pricing.py's leave-one-out folds, where each set
# is priced without it (MODEL_CARD.md, "Pricing on every set").
HEATED_TEMPLATES = [
    "같은 얘기를 벌써 몇 번째 드리는 건지 셀 수도 없어요",
    "지금 장난하시는 거예요 제가 세 번째 전화하는 거예요",
    "말이 되는 소리를 하세요",
    "사람을 이렇게 무시해도 되는 거예요",
    "기가 막혀서 말이 안 나오네요",
    "어이가 없어서 웃음밖에 안 나와요",
    "진짜 열받아서 못 참겠네",
    "짜증 나 죽겠어요 왜 이렇게 오래 걸려요",
    "속 터져 죽겠네 정말",
    "답답해서 미치겠어요 누가 책임질 거예요",
    "환장하겠네 서류를 또 떼 오라고요",
    "이게 나라냐고요 세금은 꼬박꼬박 내는데",
    "공무원들은 다 이런 식이에요",
    "일 처리가 완전 엉망이네요",
    "책임자 나오라고 하세요 지금 당장",
    "내가 가만히 있을 줄 알아요 신문사에 제보할 거예요",
    "국민 신문고에 올릴 테니까 그렇게 아세요",
    "녹음하고 있으니까 똑바로 말씀하세요",
    "저번에 통화한 분이랑 말이 완전히 다르잖아요",
    "아까는 된다면서요 왜 말을 바꿔요",
    "제가 지금 소리 지르는 게 아니라 답답해서 그래요",
    "목소리 커진 건 죄송한데 너무 억울해서요",
    "억울해서 잠이 안 와요 정말",
    "이러다 사람 잡겠어요",
    "애가 아파서 죽는 줄 알았어요",
    "허리가 끊어질 것 같아요 병원 가야 돼요",
    "숨넘어가겠네 천천히 좀 말해 봐요",
    "아이고 죽겠다 계단을 몇 개나 올라왔는지",
    "배고파서 쓰러지겠어요",
    "추워 죽겠는데 보일러가 또 고장 났어요",
    "아랫집에서 물이 새서 미치고 팔짝 뛰겠어요",
    "옆집 개가 밤새 짖어서 돌아 버리겠어요",
    "공사 소리 때문에 머리가 깨질 것 같아요",
    "주차 딱지를 왜 우리 집 앞에만 붙여요",
    "쓰레기를 왜 우리 집 앞에다 버리냐고요",
    "불법 주차 신고를 열 번도 넘게 했어요",
    "계속 이러면 저도 가만 안 있어요 정식으로 민원 넣을 거예요",
    "법대로 하자고요 법대로",
    "변호사 통해서 연락드릴게요",
    "소송이라도 해야 되나 싶어요",
    "울고 싶어요 진짜 너무 힘들어서",
    "제가 지금 눈물이 나서 말을 못 하겠어요",
    "엄마가 치매라서 제가 정신이 하나도 없어요",
    "혼자 애 셋 키우는데 지원이 이것밖에 안 돼요",
    "월세가 밀려서 쫓겨나게 생겼어요",
    "다음 달에 길바닥에 나앉게 생겼다고요",
    "병원비 때문에 빚이 산더미예요",
    "일자리를 잃어서 막막해요",
    "{s} 신청했는데 왜 탈락이에요 이유라도 알려 줘요",
    "{t} 까지 된다고 해서 왔는데 문이 닫혀 있잖아요",
    "{name} 주무관 바꿔 주세요 그분이 담당이라면서요",
    "{d} 사는데 {p} 앞 도로가 몇 달째 파헤쳐져 있어요",
    "번호가 {n} 이라니까요 아까부터 말했잖아요",
    "아 됐어요 됐어 말이 안 통하네",
    "그만 좀 돌리세요 벌써 다섯 번째예요",
    "전화 좀 제발 받으세요 하루 종일 걸었어요",
    "대기만 삼십 분째예요",
    "칼같이 여섯 시에 끊으시네요",
    "점심시간이라 안 된다는 게 말이 돼요",
    "세상에 이런 법이 어디 있어요",
    "아주 그냥 뒤집어엎고 싶네요",
    "제 말 끊지 마시고 끝까지 들어 보세요",
    "지금 저를 가르치려고 하시는 거예요",
    "반말하지 마세요 기분 나쁘니까",
    "웃으면서 말할 일이 아니잖아요",
    "미안하다는 말 한마디면 되는 걸 왜 그래요",
    "사과는 받을게요 근데 다음엔 이러지 마세요",
    "아 참 나 살다 살다 이런 경우는 처음 보네",
    "아 진짜 미치겠네 비밀번호가 또 틀렸대요",
    "아 깜짝이야 전화가 끊긴 줄 알았어요",
    "에이 설마 그렇게까지 하겠어요",
    "뭐 이런 경우가 다 있어요",
    "이씨 성 가진 분 찾는다고 하셨죠",
    "시방 뭐라고 하셨소 잘 안 들리는디",
    "그짝 동네는 버스가 안 다니지라",
    "우짜면 좋노 서류를 잃어버렸는데",
    "고마 됐다 내가 직접 갈게",
    "와 진짜 대박이다 벌써 처리됐어요",
    "헐 그럼 처음부터 다시 해야 돼요",
    "아 몰라 몰라 그냥 알아서 해 주세요",
]
"""Sentence types of the heated stream only (80): upset citizens who are not abusive; a check only."""

# Sentence types of upset callers for training only (stage 20, MODEL_CARD.md "Upset callers"), written on
# 2026-12-06 after the heated stream had been scored; the heated stream's own sentences and the words it showed
# to be confused were kept out of them, so that the heated stream still says whether the register generalises.
UPSET_TRAIN_TEMPLATES = [
    "이게 벌써 몇 번째인지 모르겠어요",
    "한두 번도 아니고 너무하시네요",
    "지난주에도 똑같은 말씀 하셨잖아요",
    "왜 매번 저한테만 이러세요",
    "저도 바쁜 사람이에요 시간 좀 아껴 주세요",
    "하루 종일 이것 때문에 일을 못 했어요",
    "서류를 몇 번이나 냈는데 또 없다고요",
    "분명히 접수했다고 하셨잖아요",
    "접수증까지 받았는데 기록이 없다니요",
    "이런 식으로 일하시면 곤란하죠",
    "제가 뭘 잘못했는지 설명을 해 주세요",
    "규정이 그렇다는 말만 하지 말고요",
    "그 규정이 어디에 있는지 보여 주세요",
    "담당자가 바뀔 때마다 말이 달라져요",
    "인수인계를 제대로 안 하신 거 아니에요",
    "처음부터 다시 설명하라는 거예요",
    "아까 그분 다시 바꿔 주세요",
    "제 얘기를 듣고는 계신 거예요",
    "메모는 하신 거죠 나중에 딴말하지 마세요",
    "그럼 언제까지 기다리면 되는데요",
    "기다리라는 말만 벌써 한 달째예요",
    "연락 준다고 해 놓고 아무 연락이 없어요",
    "문자 한 통이라도 주시지 그랬어요",
    "전화 연결이 왜 이렇게 안 돼요",
    "계속 통화 중이라 겨우 연결됐어요",
    "돌리고 돌리다가 여기까지 왔어요",
    "구청에 물어보니까 동에 물어보래요",
    "서로 떠넘기지 좀 마세요",
    "결국 아무도 책임을 안 지는 거네요",
    "이러니까 사람들이 민원을 넣는 거예요",
    "정말 실망이 커요",
    "이 동네 산 지 삼십 년인데 이런 적은 처음이에요",
    "세금 내는 보람이 없네요",
    "누구를 위해서 일하시는 거예요",
    "높은 분하고 직접 얘기하고 싶어요",
    "동장님 면담 신청할게요",
    "시장님한테 편지라도 써야겠어요",
    "뉴스에 나와야 고쳐 주실 거예요",
    "인터넷에 다 올릴 거예요",
    "주민 서명 받아서 다시 올게요",
    "감사원에 알아보면 되겠네요",
    "변호사 선임하면 그때 가서 후회하실걸요",
    "내용 증명 보내 드릴게요",
    "정식으로 이의 신청할 거예요",
    "행정 심판 절차 좀 알려 주세요",
    "그 결정에 동의 못 하겠어요",
    "납득이 안 가요 다시 검토해 주세요",
    "심사 기준이 뭔지 공개해 주세요",
    "옆집은 되고 우리 집은 왜 안 돼요",
    "형평성에 안 맞잖아요",
    "힘없는 사람만 손해 보는 거죠",
    "노인이라고 무시하시는 거예요",
    "말귀를 못 알아듣는다고 생각하시는 거죠",
    "큰소리 내고 싶지 않은데 자꾸 이러시니까요",
    "저 지금 많이 참고 있는 거예요",
    "목소리가 커지는 건 이해해 주세요",
    "흥분해서 죄송해요 근데 너무 답답해서요",
    "화내서 미안해요 그쪽 잘못이 아닌 거 알아요",
    "제가 좀 예민했네요 미안합니다",
    "속상해서 그래요 이해해 주세요",
    "가슴이 답답하고 머리가 아파요",
    "밤에 잠을 한숨도 못 잤어요",
    "스트레스 때문에 병나겠어요",
    "애들 보기 창피해서 못 살겠어요",
    "이웃하고 얼굴 붉히기 싫어서 전화드린 거예요",
    "윗집 쿵쾅거리는 소리에 신경이 곤두서요",
    "새벽마다 오토바이 소리에 깨요",
    "담배 연기가 베란다로 들어와서 괴로워요",
    "음식물 쓰레기 냄새 때문에 창문을 못 열어요",
    "골목에 버려진 가구를 몇 주째 안 치워 가요",
    "가로등이 나간 지 한참 됐는데 무서워서 못 다녀요",
    "아이 통학로에 차가 쌩쌩 달려서 겁나요",
    "하수구 냄새가 너무 심해요",
    "비만 오면 도로가 물바다가 돼요",
    "놀이터 시설이 부서져서 애가 다칠 뻔했어요",
    "공원에서 밤늦게까지 떠들어서 힘들어요",
    "주차 문제로 이웃이랑 매일 싸워요",
    "제 차 앞을 막아 놔서 출근을 못 했어요",
    "견인해 달라고 했는데 아직도 그대로예요",
    "과태료가 억울하게 나왔어요",
    "단속 기준이 너무 들쭉날쭉해요",
    "보조금이 끊기면 우린 어떻게 살라고요",
    "이번 달 생활비가 하나도 없어요",
    "병원비 낼 돈이 없어서 치료를 미뤘어요",
    "집주인이 나가라고 해서 막막해요",
    "어디 하소연할 데가 없어요",
    "누가 좀 도와줬으면 좋겠어요",
    "혼자서는 도저히 감당이 안 돼요",
    "자식들한테 손 벌리기도 미안하고요",
    "요즘은 사는 게 사는 게 아니에요",
    "눈앞이 캄캄해요",
    "하늘이 무너지는 것 같았어요",
    "억장이 무너져요",
    "속이 부글부글 끓어요",
    "분해서 손이 떨려요",
    "어처구니가 없네요",
    "황당해서 할 말이 없어요",
    "이건 아니라고 봐요",
    "해도 해도 너무하네요",
    "도저히 이해가 안 돼요",
    "그렇게밖에 말씀 못 하세요",
    "좀 친절하게 말씀해 주시면 안 돼요",
    "사람 말을 끝까지 좀 들어 주세요",
    "네네 하지 마시고 대답을 해 주세요",
    "알아보고 전화 준다는 말 이번이 세 번째예요",
    "{s} 때문에 {t} 부터 기다렸어요",
    "{p} 앞에 불법 현수막이 또 붙었어요",
    "{d} 쪽 공사가 언제 끝나는지 아무도 몰라요",
    "{name} 씨가 처리해 준다고 했는데 감감무소식이에요",
    "접수 번호 {n} 인데 진행이 하나도 안 됐어요",
    "{s} 신청 기간을 왜 이렇게 짧게 잡았어요",
    "아 정말 왜 이렇게 복잡하게 만들어 놨어요",
    "에휴 제가 말을 말아야지",
    "하 진짜 기운 빠지네요",
    "아이고 내 팔자야",
    "어휴 한숨만 나와요",
    "세상에 어떻게 이럴 수가 있어요",
    "참 나 기가 차네요",
    "됐고요 결과만 알려 주세요",
    "알았어요 알았어 끊을게요",
]
"""Upset-caller sentence types that only training says (stage 20); none is a heated-stream sentence."""


STAFF_TEMPLATES = [
    "감사합니다 {d} 행정복지센터 {name} 주무관입니다",
    "네 {d} 주민센터입니다 무엇을 도와드릴까요",
    "전화 주셔서 감사합니다",
    "네 말씀하세요",
    "잠시만 기다려 주세요 확인해 드리겠습니다",
    "성함이랑 생년월일 말씀해 주시겠어요",
    "주소가 어떻게 되세요",
    "연락처 남겨 주시면 담당자가 전화드릴 거예요",
    "{s} 은 정부 이십사에서도 발급 가능하세요",
    "신분증 지참하시고 방문해 주시면 됩니다",
    "수수료는 한 통에 사백 원입니다",
    "수수료 면제 대상이신지 확인해 볼게요",
    "담당자가 지금 자리에 안 계셔서요 메모 남겨 드릴까요",
    "불편을 드려서 정말 죄송합니다",
    "선생님 천천히 말씀해 주세요",
    "그 부분은 저희 센터에서 처리할 수 없는 부분이라서요",
    "{p} 민원실로 연결해 드리겠습니다",
    "업무 시간은 {t} 부터 오후 여섯 시까지입니다",
    "전입신고는 십사 일 이내에 하셔야 합니다",
    "인감증명서는 본인이 직접 오셔야 발급됩니다",
    "네 맞습니다 똑같은 서류로 제출하시면 됩니다",
    "확인해 보니까 접수는 정상적으로 되어 있네요",
    "다시 한 번 말씀해 주시겠어요 잘 안 들려서요",
    "여보세요 여보세요 제 목소리 들리세요",
    "문자로 안내해 드리겠습니다",
    "기초연금 신청은 만 육십오 세부터 가능합니다",
    "복지 담당 주무관님 바꿔 드릴게요",
    "네 알겠습니다 좋은 하루 되세요",
    "그럼 내일 {t} 에 방문해 주세요",
    "주소 변경은 온라인으로도 가능하세요",
    "등기우편으로 보내 드렸습니다",
    "그건 제가 결정할 수 있는 게 아니라서요",
    "규정상 어쩔 수 없는 부분이라 양해 부탁드립니다",
    "선생님 그렇게 말씀하시면 저희도 곤란합니다",
    "지금 통화 내용은 녹음되고 있습니다",
    "화가 나신 건 충분히 이해합니다",
    "제가 바로 확인해서 다시 연락드리겠습니다",
    "대형 폐기물 스티커는 편의점에서 사시면 돼요",
    "주차 단속은 {p} 교통과로 문의하셔야 합니다",
    "가족관계증명서 상세로 필요하신 거죠",
    "위임장 있으시면 대리 발급도 됩니다",
    "잠깐만요 전산이 좀 느려서요",
    "네 접수 번호는 {n} 입니다",
    "서류 준비되시면 {name} 주무관 찾으시면 돼요",
    "그 건은 아직 심사 중이라서 결과가 안 나왔어요",
    "보통 일주일에서 열흘 정도 걸립니다",
    "신청서는 홈페이지에서 내려받으실 수 있어요",
    "도장 대신 서명하셔도 됩니다",
    "통장 사본도 같이 가져오셔야 해요",
    "네 네 듣고 있습니다 계속 말씀하세요",
    "아 그러셨어요 많이 답답하셨겠어요",
    "제가 담당 부서에 꼭 전달하겠습니다",
    "오늘 중으로 처리해 드릴게요",
    "주말에는 무인 발급기를 이용하시면 됩니다",
    "{d} 는 저희 관할이 아니라서 그쪽 주민센터에 문의하셔야 해요",
    "혹시 본인 맞으세요",
    "개인정보라서 전화로는 알려 드릴 수가 없어요",
    "가까운 주민센터 어디서나 발급 가능하십니다",
    "예약 없이 오셔도 됩니다",
    "점심시간에는 창구 한 곳만 운영합니다",
    "그 서류는 유효기간이 삼 개월이에요",
    "번호표 뽑고 기다리시면 불러 드려요",
    "장애인 등록은 진단서가 먼저 있어야 해요",
    "긴급 복지 지원은 상담부터 받으셔야 합니다",
    "신청하신 게 반려돼서 다시 내셔야 할 것 같아요",
    "죄송한데 조금 있다가 다시 전화 주시겠어요",
    "지금 상담이 밀려 있어서요 번호 남겨 주세요",
    "확인 결과 대상자에 해당되지 않으십니다",
    "이의 신청은 구십 일 안에 하시면 됩니다",
    "선생님 욕설을 계속하시면 통화를 종료하겠습니다",
    "말씀 중에 죄송한데 제가 설명을 좀 드릴게요",
    "네 그 부분은 제가 잘못 안내해 드렸네요 죄송합니다",
    "자녀분이 대신 오셔도 돼요",
    "우편으로 받으시려면 우표 값이 따로 들어요",
    "재발급 수수료는 없습니다",
    "혹시 다른 문의 사항 있으세요",
    "그럼 그렇게 처리해 드리겠습니다",
    "네 들어가세요 감사합니다",
    "민원 처리 결과는 문자로 보내 드려요",
    "잠시 통화 가능하세요 확인할 게 있어서요",
]
"""What staff say on the phone (80 types, written in one go before anything was scored on them). The
line leg carries them back as the hybrid's echo, so the caller leg hears the staff too: a check only."""


def staff_sentence(rng: random.Random) -> str:
    """One sentence of the staff stream (STAFF_TEMPLATES)."""
    return fill(rng.choice(STAFF_TEMPLATES), rng)


SYLLABLE_INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_COMMON_SYLLABLES = (
    "가나다라마바사아자차카타파하거너더러머버서어저처커터퍼허고노도로모보소오조초코토포호구누두루무부수우주추"
    "쿠투푸후그느드르므브스으즈츠크트프흐기니디리미비시이지치키티피히개내대래매배새애재채캐태패해게네데레메베세"
    "에제체케테페헤한국민원신청서류전화번호주소담당자처리확인발급문의감사합니다요네예그럼정말진짜빨리"
)


LEXICON_FILE = Path("/usr/share/hunspell/ko.dic")
"""Debian's hunspell-ko word list (about 100 000 words and inflected forms): vocabulary for word salad."""
ABUSIVE_STEMS = (
    "씨발", "시발", "씨팔", "씨바", "새끼", "새기", "병신", "븅신", "미친", "좆", "꺼져", "꺼지", "죽여", "죽이",
    "죽인", "섹스", "섹시", "몸매", "가슴", "잘래", "자자", "질러", "가만", "년",
)  # fmt: skip
"""Word parts that may be (or sound like) a keyword: lexicon words holding one are left out of negatives."""


@functools.cache
def lexicon(path: Path = LEXICON_FILE) -> list[str]:
    """Hangul words of the dictionary, 1-5 syllables, without keyword stems or words of the fresh stream.

    The fresh stream's words are left out so that its false-accept count stays a check on unheard words.
    """
    if not path.exists():
        raise SystemExit(
            f"{path} is missing: the lexicon negatives need Debian's hunspell-ko (apt install hunspell-ko)"
        )
    fresh_words = {w for t in FRESH_TEMPLATES for w in t.split() if "{" not in w}
    words: dict[str, None] = {}  # a word listed twice (two affix classes) is kept once, in file order
    for line in path.read_text(encoding="utf-8").splitlines():
        # The file spells Hangul as conjoining jamo (NFD); the rest of the pipeline uses syllables (NFC).
        word = unicodedata.normalize("NFC", line.split("/", 1)[0].strip())
        if not 1 <= len(word) <= 5 or not all("가" <= ch <= "힣" for ch in word):
            continue
        if word in fresh_words or any(stem in word for stem in ABUSIVE_STEMS):
            continue
        words[word] = None
    return list(words)


@functools.cache
def _lexicon_split(test: bool) -> list[str]:
    return split(lexicon(), test)


def word_salad(rng: random.Random, test: bool) -> str:
    """3-8 random dictionary words (train or held-out quarter): the sound variety the templates lack."""
    words = _lexicon_split(test)
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 8)))


_INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_FINALS = ["", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"]


def _classes(groups: dict[str, str]) -> dict[str, str]:
    return {jamo: name for name, members in groups.items() for jamo in members}


# Lenis, tense and aspirated stops of one place sound alike on a phone line; ㅅ/ㅈ and ㄷ/ㅈ sit close.
_INITIAL_CLASS = _classes(
    {
        "k": "ㄱㄲㅋ",
        "t": "ㄷㄸㅌ",
        "p": "ㅂㅃㅍ",
        "s": "ㅅㅆ",
        "c": "ㅈㅉㅊ",
        "n": "ㄴㅁ",
        "l": "ㄹ",
        "h": "ㅇㅎ",
    }
)
_NEAR_INITIALS = ({"s", "c"}, {"t", "c"})
# ㅐ/ㅔ and ㅚ/ㅙ/ㅞ merged in speech; ㅓ/ㅗ and ㅡ/ㅓ sit close.
_VOWEL_CLASS = _classes(
    {"a": "ㅏㅑㅘ", "e": "ㅐㅔㅒㅖㅙㅚㅞ", "o": "ㅓㅕㅝ", "u": "ㅗㅛ", "w": "ㅜㅠㅡ", "i": "ㅣㅟㅢ"}
)
_NEAR_VOWELS = ({"o", "u"}, {"w", "o"})
# A final consonant is spoken as one of seven (받침 neutralisation): 좆 ends like 졷, 닭 like 닥.
_FINAL_SOUND = {"": "-"} | _classes(
    {
        "k": "ㄱㄲㄳㄺㅋ",
        "n": "ㄴㄵㄶ",
        "t": "ㄷㅅㅆㅈㅊㅌㅎ",
        "l": "ㄹㄼㄽㄾㅀ",
        "m": "ㅁㄻ",
        "p": "ㅂㅄㄿㅍ",
        "ŋ": "ㅇ",
    }
)


def _jamo(syllable: str) -> tuple[str, str, str]:
    code = ord(syllable) - 0xAC00
    return _INITIALS[code // 588], _VOWELS[code % 588 // 28], _FINAL_SOUND[_FINALS[code % 28]]


def _class_cost(a: str, b: str, near: tuple[set[str], ...]) -> float:
    if a == b:
        return 0.3
    return 0.6 if {a, b} in near else 1.0


@functools.cache
def syllable_distance(a: str, b: str) -> float:
    """How far two Hangul syllables sound apart: 0 the same, 0.3-0.6 per near jamo, 1 per different one."""
    (ia, va, fa), (ib, vb, fb) = _jamo(a), _jamo(b)
    cost = 0.0 if ia == ib else _class_cost(_INITIAL_CLASS[ia], _INITIAL_CLASS[ib], _NEAR_INITIALS)
    cost += 0.0 if va == vb else _class_cost(_VOWEL_CLASS[va], _VOWEL_CLASS[vb], _NEAR_VOWELS)
    if fa != fb:
        close = {fa, fb} <= set("ktp") or {fa, fb} <= set("nmŋ")
        cost += 0.5 if close else 0.7 if "-" in (fa, fb) else 1.0
    return cost


def _stretch_distance(target: str, stretch: str) -> float:
    return sum(syllable_distance(a, b) for a, b in zip(target, stretch, strict=True))


def sound_distance(target: str, word: str) -> float:
    """The smallest syllable-by-syllable distance between ``target`` and any stretch of ``word`` as long."""
    span = len(target)
    stretches = (word[i : i + span] for i in range(len(word) - span + 1))
    return min((_stretch_distance(target, st) for st in stretches), default=float("inf"))


NEIGHBOUR_LIMIT = {2: 1.2, 3: 1.8}
"""Largest sound_distance of a phonetic neighbour by the target's syllable count (longer targets: 2.2)."""


def neighbour_targets(groups: list[Group]) -> list[str]:
    """The keyword words neighbours are sought for: words of the variants with 2+ syllables and a stem."""
    words = {w for g in groups for v in g.say for w in v.split()}
    return sorted(w for w in words if len(w) >= 2 and any(s in w for s in ABUSIVE_STEMS))


@functools.cache
def _near_a_target(stretch: str, targets: tuple[str, ...]) -> bool:
    limit = NEIGHBOUR_LIMIT.get(len(stretch), 2.2)
    return any(len(t) == len(stretch) and _stretch_distance(t, stretch) <= limit for t in targets)


@functools.cache
def _neighbours(test: bool) -> list[str]:
    # Stretches repeat across the dictionary (하다, 하여 ...): each is compared with the targets once.
    targets = tuple(neighbour_targets(load_keywords()[0]))
    spans = sorted({len(t) for t in targets})
    return [
        w
        for w in _lexicon_split(test)
        if any(_near_a_target(w[i : i + n], targets) for n in spans for i in range(len(w) - n + 1))
    ]


def phonetic_neighbour(rng: random.Random, test: bool) -> str:
    """A dictionary word (train or held-out quarter) that sounds close to a keyword: 똑같은, 변신, 거쳐, 신발 ...

    The hand-written near-misses are a few dozen words; these are all such words of the dictionary.
    """
    return rng.choice(_neighbours(test))


def fill(template: str, rng: random.Random) -> str:
    """A template with its slots filled at random."""
    return template.format(
        s=rng.choice(_SERVICES),
        p=rng.choice(_PLACES),
        d=rng.choice(_DONGS),
        t=rng.choice(_TIMES),
        n=rng.choice(_NUMBERS),
        name=rng.choice(_NAMES),
    )


def split(items: list[str], test: bool) -> list[str]:
    """Every fourth item is held out for testing; the rest train."""
    return [x for i, x in enumerate(items) if (i % 4 == 3) == test]


TRAIN_TEMPLATES = split(TEMPLATES, False) + MORE_TEMPLATES[::2]
"""Sentence types training hears: three quarters of TEMPLATES and the even half of MORE_TEMPLATES."""
HELD_OUT_TEMPLATES = split(TEMPLATES, True)
"""Sentence types of the dev and test streams (14)."""
FRESH_TEMPLATES = MORE_TEMPLATES[1::2]
"""Sentence types of the fresh stream only (40): no training or threshold choice hears them."""
EVERYDAY_TRAIN_TEMPLATES = split(EVERYDAY_TEMPLATES, False)
"""Everyday sentence types the pools' everyday mix says (177)."""
EVERYDAY_HELD_OUT_TEMPLATES = split(EVERYDAY_TEMPLATES, True)
"""Sentence types of the everyday stream only (58): no training hears them."""


def ordinary_sentence(rng: random.Random, test: bool) -> str:
    """One non-abusive complaint-call sentence from the train or held-out templates."""
    return fill(rng.choice(HELD_OUT_TEMPLATES if test else TRAIN_TEMPLATES), rng)


def fresh_sentence(rng: random.Random) -> str:
    """One sentence of the fresh false-accept stream."""
    return fill(rng.choice(FRESH_TEMPLATES), rng)


def everyday_sentence(rng: random.Random, test: bool) -> str:
    """One sentence of EVERYDAY_TEMPLATES' training three quarters or held-out quarter (the everyday stream)."""
    return fill(rng.choice(EVERYDAY_HELD_OUT_TEMPLATES if test else EVERYDAY_TRAIN_TEMPLATES), rng)


def unheard_sentence(rng: random.Random) -> str:
    """One sentence of the unheard stream (UNHEARD_TEMPLATES)."""
    return fill(rng.choice(UNHEARD_TEMPLATES), rng)


def later_sentence(rng: random.Random) -> str:
    """One sentence of the later stream (LATER_TEMPLATES)."""
    return fill(rng.choice(LATER_TEMPLATES), rng)


def heated_sentence(rng: random.Random) -> str:
    """One sentence of the heated stream (HEATED_TEMPLATES)."""
    return fill(rng.choice(HEATED_TEMPLATES), rng)


def upset_sentence(rng: random.Random) -> str:
    """One upset-caller sentence for training (UPSET_TRAIN_TEMPLATES)."""
    return fill(rng.choice(UPSET_TRAIN_TEMPLATES), rng)


def babble(rng: random.Random) -> str:
    """Random Korean syllables in word-sized chunks: sounds like speech, means nothing."""
    words = []
    for _ in range(rng.randint(3, 8)):
        words.append("".join(rng.choice(_COMMON_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return " ".join(words)


SENTENCE_SOURCES: dict[str, Callable[[random.Random, bool], str]] = {
    "ordinary": ordinary_sentence,
    "fresh": lambda rng, _test: fresh_sentence(rng),
    "everyday": everyday_sentence,
    "unheard": lambda rng, _test: unheard_sentence(rng),
    "later": lambda rng, _test: later_sentence(rng),
    "heated": lambda rng, _test: heated_sentence(rng),
    "upset": lambda rng, _test: upset_sentence(rng),
    "staff": lambda rng, _test: staff_sentence(rng),
}
"""Whole-sentence sources by name, each (rng, test) -> sentence: build.render_negative's sentence kinds,
and with ``_shuffled`` appended their shuffled words (``shuffled`` alone: of the ordinary ones)."""


def shuffled(rng: random.Random, test: bool, source: str = "ordinary") -> str:
    """Words of two sentences of SENTENCE_SOURCES[source] in random order."""
    pick = SENTENCE_SOURCES[source]
    words = (pick(rng, test) + " " + pick(rng, test)).split()
    rng.shuffle(words)
    return " ".join(words[: rng.randint(4, 10)])


def carrier(rng: random.Random, test: bool) -> str:
    """A carrier sentence with a {k} slot."""
    return rng.choice(split(CARRIERS, test))
